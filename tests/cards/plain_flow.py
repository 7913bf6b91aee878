"""A flow whose steps write no card: each still has the default card."""

from __future__ import annotations

from shipyard import flow, step


@step(resources={"cpu": 1})
def make(n: int) -> list[int]:
    return list(range(n))


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@flow
def plain(n: int = 4) -> int:
    return total(make(n))
