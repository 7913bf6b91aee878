from shipyard import flow, step
from shipyard.flows import pick, unless, when


@step
def measure(n: int) -> int:
    return n


@step
def is_big(x: int) -> bool:
    return x >= 10


@step
def big(x: int) -> str:
    return f"big:{x}"


@step
def small(x: int) -> str:
    return f"small:{x}"


@step
def shout(s: str) -> str:
    return s.upper()


@flow
def branching(n: int = 3, loud: bool = False):
    x = measure(n)
    cond = is_big(x)
    with when(cond):
        a = big(x)
    with unless(cond):
        b = small(x)
    result = pick(a, b)
    if loud:  # a plain `if` on a parameter
        result = shout(result)
    return result


@step
def items(n: int) -> list[int]:
    return list(range(n))


@step
def triple(x: int) -> int:
    return 3 * x


@step
def negate(x: int) -> int:
    return -x


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@flow
def branching_map(n: int = 4):
    xs = items(n)
    cond = is_big(measure(n))
    with when(cond):
        a = triple.map(xs)
    with unless(cond):
        b = negate.map(xs)
    return total(pick(a, b))
