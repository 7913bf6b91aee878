"""Metric histories as chart data: one shared x axis (steps) and one y array per series.

This is the "aligned data" shape uPlot draws (``[xs, ys1, ys2, ...]``); a series without a point at
some step has ``null`` there, and NaN/inf (which JSON cannot carry) are ``null`` too. Long series are
thinned to at most ``MAX_POINTS`` steps so a page never ships megabytes of JSON. Series are read
with :func:`chart_history`, a bounded read (``CHART_READ_POINTS`` per chart, in pages): a series
with more points is charted from the ones logged first, and its chart says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.core.entities import Metric
from shipyard.metadata.base import METRIC_PAGE_MAX, MetadataStore

MAX_POINTS = 2000
CHART_READ_POINTS = 200_000  # the most points one chart reads, all its series together


def chart_history(metadata: MetadataStore, run_id: str, key: str, budget: int) -> tuple[list[Metric], bool]:
    """At most ``budget`` points of a series (the first logged) sorted by step then time, and
    whether that is all of it."""
    points: list[Metric] = []
    token: str | None = None
    while True:
        limit = min(METRIC_PAGE_MAX, budget - len(points))
        page = metadata.get_metric_history_page(run_id, key, limit=limit, page_token=token)
        points.extend(page.metrics)
        token = page.next_page_token
        if token is None or len(points) >= budget:
            return sorted(points, key=lambda m: (m.step, m.timestamp)), token is None


def _by_step(points: Sequence[Metric]) -> dict[int, float]:
    """Last value per step; a series logged without steps (all at one step) is indexed 0..n-1."""
    values: dict[int, float] = {}
    for p in points:
        values[p.step] = p.value
    if len(values) == 1 and len(points) > 1:
        return {i: p.value for i, p in enumerate(points)}
    return values


def _thin(steps: list[int]) -> list[int]:
    if len(steps) <= MAX_POINTS:
        return steps
    stride = math.ceil(len(steps) / MAX_POINTS)
    kept = steps[::stride]
    if kept[-1] != steps[-1]:
        kept.append(steps[-1])
    return kept


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


def chart_data(title: str, series: Mapping[str, Sequence[Metric]]) -> dict[str, Any]:
    """``{"title", "labels": [...], "data": [xs, ys...], "points"}`` for one chart."""
    per_series = {label: _by_step(points) for label, points in series.items()}
    steps = _thin(sorted({s for values in per_series.values() for s in values}))
    data: list[list[Any]] = [list(steps)]
    for values in per_series.values():
        data.append([_finite(values.get(s)) for s in steps])
    return {
        "title": title,
        "labels": list(per_series),
        "data": data,
        "points": sum(len(v) for v in per_series.values()),
        # one value per series (a final score, not a curve): shown as values and bars, not a line
        "scalar": len(steps) == 1,
    }
