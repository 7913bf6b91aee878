"""A flow whose step shows its progress on its card, waiting for the test between phases."""

from __future__ import annotations

import time
from pathlib import Path

import shipyard
from shipyard import flow, step

XSS_MARKDOWN = "Payload: <script>alert('card-md')</script> <img src=x onerror=alert('card-img')>"


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@step
def train(folder: str) -> int:
    gate = Path(folder)
    card = shipyard.card
    card.markdown("# phase one")
    card.markdown(XSS_MARKDOWN)
    card.table([{"name": "<script>alert('card-cell')</script>", "value": 1}])
    card.chart("line", x=[1, 2, 3], y=[3.0, 2.0, 1.5], title="loss")
    card.refresh()
    _wait_for(gate / "release-1")
    card.clear()
    card.markdown("# phase two")
    card.chart("line", x=[1, 2, 3, 4], y=[3.0, 2.0, 1.5, 1.2], title="loss")
    card.refresh()
    _wait_for(gate / "release-2")
    return 2


@flow
def live_card(folder: str) -> int:
    return train(folder)
