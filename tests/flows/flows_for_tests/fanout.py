from shipyard import flow, step


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def square(x: int) -> int:
    return x * x


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@step
def chunk(x: int) -> list[int]:
    return list(range(x))


@step
def inc(x: int, by: int = 1) -> int:
    return x + by


@step
def flatten(xss: list[list[int]]) -> list[int]:
    return [x for xs in xss for x in xs]


@flow
def hello(n: int = 10):
    xs = numbers(n)
    squares = square.map(xs)
    return total(squares)


@flow
def nested(n: int = 4, by: int = 10):
    chunks = chunk.map(numbers(n))  # chunk[i] -> list of i items
    bumped = inc.map(chunks, by=by)  # nested: inc[i][j]
    return flatten(bumped)


@flow
def const_map(values: list[int] = [1, 2, 3]):  # noqa: B006
    return total(square.map(values))
