"""A run's metric histories as SVG line charts, for notebook displays (``FlowRun``'s repr,
``shipyard.notebook.show(run)``): each series read in bounded pages, at most MAX_CHARTS charts of
MAX_POINTS points (the first logged)."""

from __future__ import annotations

from shipyard.cards.svg import xy_chart
from shipyard.core.entities import Metric, Run
from shipyard.core.html import esc
from shipyard.metadata.base import METRIC_PAGE_MAX, MetadataStore

MAX_CHARTS = 12
MAX_POINTS = 5_000


def _history(metadata: MetadataStore, run_id: str, key: str) -> tuple[list[Metric], bool]:
    points: list[Metric] = []
    token: str | None = None
    while len(points) < MAX_POINTS:
        page = metadata.get_metric_history_page(
            run_id, key, limit=min(METRIC_PAGE_MAX, MAX_POINTS - len(points)), page_token=token
        )
        points.extend(page.metrics)
        token = page.next_page_token
        if token is None:
            return points, True
    return points, False


def metric_charts(metadata: MetadataStore, run: Run) -> str:
    """One titled chart per metric key (sorted), as HTML."""
    parts = []
    for key in sorted(run.metrics)[:MAX_CHARTS]:
        points, whole = _history(metadata, run.id, key)
        points.sort(key=lambda m: (m.step, m.timestamp))
        note = "" if whole else f" (the first {MAX_POINTS:,} points)"
        chart = xy_chart(
            [m.step for m in points], [(key, [m.value for m in points])], scatter=False, label=key
        )
        parts.append(f"<h4>{esc(key)}{esc(note)}</h4>{chart}")
    if len(run.metrics) > MAX_CHARTS:
        parts.append(f'<p class="muted">{len(run.metrics) - MAX_CHARTS} more metrics not charted</p>')
    return "".join(parts)
