"""The graph shapes beyond map/join/when: a join per outer item of a nested fan-out, a condition
per mapped item, and a data-dependent loop. ``marker`` (a file path) makes one task fail until the
file exists; an empty marker never fails."""

from pathlib import Path
from typing import Literal

from shipyard import flow, step
from shipyard.flows import loop, pick, unless, when


def _fails(value: float, bad: float, marker: str) -> None:
    if marker and value == bad and not Path(marker).exists():
        raise ValueError(f"item {value} is not fixed yet")


@step
def numbers(n: int, start: int = 0, stride: int = 1) -> list[int]:
    return [start + stride * i for i in range(n)]


@step
def chunk(x: int) -> list[int]:
    """x items, ``10x + j``: item 0 gives an empty inner fan-out."""
    return [10 * x + j for j in range(x)]


@step
def inc(x: int, by: int, marker: str) -> int:
    _fails(x, 31, marker)
    return x + by


@step(cache=True)
def subtotal(xs: list[int]) -> int:
    return sum(xs)


@step
def collect(xs: list[int]) -> list[int]:
    return list(xs)


@flow
def nested_join(n: int = 4, by: int = 100, marker: str = ""):
    chunks = chunk.map(numbers(n))  # chunk[i] -> a list of i items
    bumped = inc.map(chunks, by=by, marker=marker)  # inc[i][j]
    sums = subtotal.join(bumped)  # subtotal[i]: the sum of inc[i][*]
    return collect(sums)


@step
def is_even(x: int) -> bool:
    return x % 2 == 0


@step
def triple(x: int, marker: str) -> int:
    _fails(x, 4, marker)
    return 3 * x


@step
def negate(x: int) -> int:
    return -x


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@step
def summary(tripled: int, picked: list[int]) -> dict[str, object]:
    return {"tripled": tripled, "picked": picked}


@flow
def gated_items(n: int = 5, start: int = 0, stride: int = 1, marker: str = ""):
    xs = numbers(n, start, stride)
    even = is_even.map(xs)
    with when(even):  # per item: triple[i] runs only where even[i]
        tripled = triple.map(xs, marker=marker)
    with unless(even):
        negated = negate.map(xs)
    return summary(total(tripled), collect(pick(tripled, negated)))


@step
def first(x: float) -> float:
    return x


@step(cache=True)
def halve(x: float, marker: str) -> float:
    _fails(x, 2.5, marker)
    return x / 2


@step
def below_one(x: float) -> bool:
    return x < 1


@step
def done(x: float) -> dict[str, float]:
    return {"final": x}


@flow
def halving(
    start: float = 10.0, max_iterations: int = 10, on_max: Literal["fail", "stop"] = "fail", marker: str = ""
):
    x = first(start)
    final = loop(halve, x, until=below_one, max_iterations=max_iterations, on_max=on_max, marker=marker)
    return done(final)


@flow
def gated_nested(n: int = 5, by: int = 100):
    xs = numbers(n)
    even = is_even.map(xs)
    with when(even):  # only the even items fan out again ...
        chunks = chunk.map(xs)
    bumped = inc.map(chunks, by=by, marker="")  # ... so inc[i][*] exists for even i only
    sums = subtotal.join(bumped)  # and subtotal[i] too: the odd ones are skipped items
    return collect(sums)


@step
def upto(x: int) -> list[int]:
    return list(range(x))


@step
def flatten3(xsss: list[list[list[int]]]) -> list[int]:
    return [x for xss in xsss for xs in xss for x in xs]


@flow
def deep_nested(n: int = 3):
    """Three fan-outs deep whose first inner lists are empty: [[], [[]], [[], [1]]]."""
    deep = inc.map(upto.map(upto.map(numbers(n))), by=1, marker="")
    return flatten3(deep)
