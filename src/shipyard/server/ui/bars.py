"""Scalar metrics (one value per run) as horizontal bar charts drawn server-side in SVG: one row per
run, its bar from zero and its value written beside it. A value is not a curve: a single point on a
line chart says nothing, a bar per run compares them at a glance. Only numeric attributes and
escaped text are written (the UI's CSP has no inline styles)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.server.ui.templating import format_number

#: the series colours of ui.js, in the same order (a run has one colour on every chart of a page)
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777")
LABEL_W, BAR_W, VALUE_W, ROW_H = 170, 300, 90, 24


@dataclass(frozen=True)
class BarRow:
    label: str
    text: str  # the value as shown ("—" when the run has none)
    colour: str
    y: float
    x: float  # where the bar starts
    width: float  # 0 when the run has no finite value
    text_x: float


@dataclass(frozen=True)
class BarChart:
    key: str
    rows: list[BarRow]
    width: int
    height: int
    zero_x: float


def _short(label: str, limit: int = 24) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart(key: str, values: Sequence[tuple[str, float | None]]) -> BarChart:
    """``values``: ``(run label, value)`` per run in the page's order (None: no such metric)."""
    finite = [v for _, v in values if v is not None and math.isfinite(v)]
    low, high = min([0.0, *finite]), max([0.0, *finite])
    span = (high - low) or 1.0
    zero_x = LABEL_W + (0.0 - low) / span * BAR_W
    rows = []
    for i, (label, value) in enumerate(values):
        y = 4 + i * ROW_H
        colour = PALETTE[i % len(PALETTE)]
        if value is None or not math.isfinite(value):
            text = "—" if value is None else str(value)
            rows.append(BarRow(_short(label), text, colour, y, zero_x, 0.0, zero_x + 6))
            continue
        end = LABEL_W + (value - low) / span * BAR_W
        x, width = min(zero_x, end), abs(end - zero_x)
        rows.append(
            BarRow(_short(label), format_number(value), colour, y, x, max(width, 1.0), max(zero_x, end) + 6)
        )
    return BarChart(key, rows, LABEL_W + BAR_W + VALUE_W, 8 + len(values) * ROW_H, zero_x)
