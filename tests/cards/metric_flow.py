"""A flow whose step logs a metric series (tests/cards/test_reprs.py)."""

from __future__ import annotations

import shipyard
from shipyard import flow, step


@step
def fit(epochs: int) -> int:
    for epoch in range(epochs):
        shipyard.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
    return epochs


@flow
def fitting(epochs: int = 5) -> int:
    return fit(epochs)
