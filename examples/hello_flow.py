from shipyard import flow, step


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step(retries=1)
def square(x: int) -> int:
    return x * x


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@flow
def hello(n: int = 10):
    xs = numbers(n)
    squares = square.map(xs)  # fan-out: one task per item, known only at run time
    return total(squares)  # join: receives the list of mapped outputs, in order
