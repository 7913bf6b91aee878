from shipyard import flow, step


@step
def load(n: int) -> list[int]:
    print(f"loading {n}")
    return list(range(n))


@step
def double(xs: list[int]) -> list[int]:
    return [2 * x for x in xs]


@step
def summarize(xs: list[int]) -> dict[str, int]:
    return {"count": len(xs), "sum": sum(xs)}


@flow
def linear(n: int = 5):
    return summarize(double(load(n)))
