"""Flows whose steps build cards (tests/cards/test_task_cards.py)."""

from __future__ import annotations

import shipyard
from shipyard import flow, step


@step
def report(n: int) -> int:
    shipyard.card.markdown(f"# Report of {n}")
    shipyard.card.table({"x": list(range(n)), "square": [i * i for i in range(n)]})
    shipyard.card.chart("line", {"x": list(range(n)), "y": [i * i for i in range(n)]}, x="x", y="y")
    return n


@step
def crash(n: int) -> int:
    shipyard.card.markdown("before the crash")
    raise RuntimeError("boom")


@flow
def reported(n: int = 3) -> int:
    return report(n)


@flow
def crashing(n: int = 1) -> int:
    return crash(n)
