"""Parallel coordinates of the compared runs: one vertical axis per param (the ones that differ
first) and a last axis for a chosen metric, one polyline per run in its colour. Laid out here, drawn
as SVG by the template (numeric attributes and escaped text only: the UI's CSP has no inline style).
A numeric param gets a linear axis, any other a category axis (values in sorted order); a run
without the param sits at the axis' "—" mark below it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.server.ui.bars import PALETTE
from shipyard.server.ui.templating import format_number, format_value

MAX_AXES = 12  # params shown, the metric's axis included
WIDTH, HEIGHT, TOP, BOTTOM, SIDE = 880, 300, 28, 40, 70
MISSING = "—"


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class Axis:
    name: str
    x: float
    ticks: list[Tick]
    metric: bool


@dataclass(frozen=True)
class Line:
    label: str
    colour: str
    points: str  # "x,y x,y ..." for <polyline>
    ys: list[float]
    title: str


@dataclass(frozen=True)
class Parallel:
    metric: str
    axes: list[Axis]
    lines: list[Line]
    width: int
    height: int
    bottom: float


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _axis_positions(values: Sequence[Any]) -> tuple[list[float], list[Tick]]:
    """Each value's position from 0 (bottom) to 1 (top), and the axis' ticks; a missing value -0.08."""
    present = [v for v in values if v is not None]
    if present and all(_numeric(v) for v in present):
        low, high = min(present), max(present)
        span = (high - low) or 1.0
        pos = [-0.08 if v is None else (0.5 if high == low else (v - low) / span) for v in values]
        ticks = [Tick(0.0, format_number(low)), Tick(1.0, format_number(high))] if high != low else []
        ticks = ticks or [Tick(0.5, format_number(low))]
    else:
        cats = sorted({format_value(v) for v in present})
        step = 1 / max(1, len(cats) - 1)
        where = {c: (0.5 if len(cats) == 1 else i * step) for i, c in enumerate(cats)}
        pos = [-0.08 if v is None else where[format_value(v)] for v in values]
        ticks = [Tick(p, c[:14]) for c, p in where.items()]
    if any(v is None for v in values):
        ticks.append(Tick(-0.08, MISSING))
    return pos, ticks


def parallel_coords(
    labels: Sequence[str],
    params: Sequence[dict[str, Any]],
    metric: str,
    metric_values: Sequence[float | None],
    only_diff: bool = False,
) -> Parallel:
    """``only_diff``: axes only for the params whose values differ (the page's "Only differences")."""
    keys = sorted({k for p in params for k in p})
    differs = [k for k in keys if len({format_value(p.get(k)) for p in params}) > 1]
    same = [] if only_diff else [k for k in keys if k not in differs]
    chosen = (differs + same)[: MAX_AXES - 1]
    columns: list[tuple[str, list[Any], bool]] = [(k, [p.get(k) for p in params], False) for k in chosen]
    columns.append((metric, [v if v is not None and math.isfinite(v) else None for v in metric_values], True))
    plot_h = HEIGHT - TOP - BOTTOM
    gap = (WIDTH - 2 * SIDE) / max(1, len(columns) - 1)
    axes, positions = [], []
    for i, (name, values, is_metric) in enumerate(columns):
        x = SIDE + i * gap if len(columns) > 1 else WIDTH / 2
        pos, ticks = _axis_positions(values)
        ys = [TOP + (1 - p) * plot_h for p in pos]
        positions.append((x, ys))
        axes.append(Axis(name, x, [Tick(TOP + (1 - t.y) * plot_h, t.text) for t in ticks], is_metric))
    lines = []
    for r, label in enumerate(labels):
        ys = [col[1][r] for col in positions]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip((c[0] for c in positions), ys, strict=True))
        value = metric_values[r]
        shown = MISSING if value is None else format_number(value)
        lines.append(Line(label, PALETTE[r % len(PALETTE)], points, ys, f"{label}: {metric} {shown}"))
    return Parallel(metric, axes, lines, WIDTH, HEIGHT, TOP + plot_h)
