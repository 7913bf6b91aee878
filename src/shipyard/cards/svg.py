"""Charts as inline SVG, drawn in Python: line, scatter, bar and histogram.

No script runs to draw them, so a card shows its charts inside a sandbox that allows none, in a
standalone file and in a notebook alike. Only fixed elements and numeric attributes are written;
every label is escaped text. Presentation attributes (``fill``, ``stroke``) instead of ``style``, so
a strict ``style-src`` policy holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from shipyard.core.html import esc

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 34
MAX_CATEGORIES = 60


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.ceil(low / step) * step
    ticks: list[float] = []
    value = start
    while value <= high + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2g}"
    return f"{value:.6g}"


class _Frame:
    """Maps data coordinates to the plot area and draws the axes."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 <= self.x0:
            self.x0, self.x1 = self.x0 - 0.5, self.x1 + 0.5
        if self.y1 <= self.y0:
            self.y0, self.y1 = self.y0 - 0.5, self.y1 + 0.5
        self.w = WIDTH - LEFT - RIGHT
        self.h = HEIGHT - TOP - BOTTOM

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * self.w

    def py(self, y: float) -> float:
        return TOP + self.h - (y - self.y0) / (self.y1 - self.y0) * self.h

    def axes(self, x_ticks: bool = True) -> list[str]:
        parts = [
            f'<line x1="{LEFT}" y1="{TOP + self.h}" x2="{LEFT + self.w}" y2="{TOP + self.h}" '
            'stroke="#98a2b3"/>',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + self.h}" stroke="#98a2b3"/>',
        ]
        for t in nice_ticks(self.y0, self.y1):
            y = self.py(t)
            parts.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + self.w}" y2="{y:.1f}" stroke="#eef0f3"/>'
            )
            parts.append(
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#475467">'
                f"{esc(_label(t))}</text>"
            )
        if x_ticks:
            for t in nice_ticks(self.x0, self.x1, 6):
                x = self.px(t)
                parts.append(
                    f'<text x="{x:.1f}" y="{TOP + self.h + 16}" text-anchor="middle" font-size="11" '
                    f'fill="#475467">{esc(_label(t))}</text>'
                )
        return parts


def _svg(parts: list[str], label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{esc(label)}">{"".join(parts)}</svg>'
    )


def _legend(names: Sequence[str]) -> str:
    if len(names) < 2:
        return ""
    items = "".join(
        f'<span class="legend-item"><svg width="10" height="10"><rect width="10" height="10" '
        f'fill="{PALETTE[i % len(PALETTE)]}"/></svg> {esc(n)}</span>'
        for i, n in enumerate(names)
    )
    return f'<div class="legend">{items}</div>'


def _finite(values: Sequence[Any]) -> list[float]:
    return [
        float(v)
        for v in values
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]


def xy_chart(
    x: Sequence[Any], series: Sequence[tuple[str, Sequence[Any]]], *, scatter: bool, label: str
) -> str:
    """Lines (gaps at missing points) or points of each series over a numeric x."""
    xs = _finite(x)
    ys = [v for _, values in series for v in _finite(values)]
    if not xs or not ys:
        return '<p class="muted">no data to chart</p>'
    x_low, x_high, y_low, y_high = min(xs), max(xs), min(ys), max(ys)
    if scatter:  # room for the points at the edges
        x_pad, y_pad = (x_high - x_low) * 0.03, (y_high - y_low) * 0.05
        x_low, x_high, y_low, y_high = x_low - x_pad, x_high + x_pad, y_low - y_pad, y_high + y_pad
    else:
        y_low = min(0.0, y_low)
    frame = _Frame((x_low, x_high), (y_low, y_high))
    parts = frame.axes()
    for i, (_, values) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        points = [
            (frame.px(float(a)), frame.py(float(b)))
            for a, b in zip(x, values, strict=False)
            if _finite([a]) and _finite([b])
        ]
        if scatter:
            parts += [
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}" fill-opacity="0.7"/>'
                for px, py in points
            ]
            continue
        runs: list[list[tuple[float, float]]] = [[]]
        for a, b in zip(x, values, strict=False):
            if _finite([a]) and _finite([b]):
                runs[-1].append((frame.px(float(a)), frame.py(float(b))))
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if len(run) == 1:
                parts.append(f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="2.5" fill="{colour}"/>')
            elif run:
                coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
    return _svg(parts, label) + _legend([n for n, _ in series])


def bar_chart(categories: Sequence[Any], series: Sequence[tuple[str, Sequence[Any]]], *, label: str) -> str:
    """Grouped bars, one group per category (the first MAX_CATEGORIES)."""
    cats = list(categories)[:MAX_CATEGORIES]
    ys = [v for _, values in series for v in _finite(list(values)[: len(cats)])]
    if not cats or not ys:
        return '<p class="muted">no data to chart</p>'
    frame = _Frame((0.0, float(len(cats))), (min(0.0, *ys), max(0.0, *ys)))
    parts = frame.axes(x_ticks=False)
    slot = frame.w / len(cats)
    bar = slot * 0.8 / max(1, len(series))
    zero = frame.py(0.0)
    for c, name in enumerate(cats):
        for i, (_, values) in enumerate(series):
            value = list(values)[c] if c < len(values) else None
            if value is None or not _finite([value]):
                continue
            top = frame.py(float(value))
            x = LEFT + c * slot + slot * 0.1 + i * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{min(top, zero):.1f}" width="{max(bar - 1, 1):.1f}" '
                f'height="{abs(zero - top):.1f}" fill="{PALETTE[i % len(PALETTE)]}"/>'
            )
        if len(cats) <= 20:
            parts.append(
                f'<text x="{LEFT + (c + 0.5) * slot:.1f}" y="{TOP + frame.h + 16}" text-anchor="middle" '
                f'font-size="11" fill="#475467">{esc(str(name)[:16])}</text>'
            )
    return _svg(parts, label) + _legend([n for n, _ in series])


def histogram_chart(edges: Sequence[Any], counts: Sequence[Any], *, label: str) -> str:
    """Bars over bin edges (``len(edges) == len(counts) + 1``)."""
    e, c = _finite(edges), _finite(counts)
    if len(e) != len(c) + 1 or not c:
        return '<p class="muted">no data to chart</p>'
    frame = _Frame((e[0], e[-1]), (0.0, max(c)))
    parts = frame.axes()
    for i, count in enumerate(c):
        x0, x1, top = frame.px(e[i]), frame.px(e[i + 1]), frame.py(count)
        parts.append(
            f'<rect x="{x0:.1f}" y="{top:.1f}" width="{max(x1 - x0 - 1, 0.5):.1f}" '
            f'height="{frame.py(0.0) - top:.1f}" fill="{PALETTE[0]}"/>'
        )
    return _svg(parts, label)
