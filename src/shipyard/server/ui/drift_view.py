"""The monitoring page's drift views, laid out in Python for the templates: a heatmap of features x
time windows (worst features first, a colour level per cell from the test's severity) and, for the
cell a user clicked, that feature's distribution in the window against the reference as paired bars.
Only numeric attributes, class names and escaped text reach the page (the UI's CSP: no inline style)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shipyard.monitoring.dashboard import Dashboard, Distribution, severity
from shipyard.monitoring.drift import FeatureDrift

MAX_FEATURES = 40  # heatmap rows; the rest are counted ("N more features, none worse")
LEVELS = (0.25, 0.5, 0.75, 1.0, 2.0)  # severity bounds of colour levels 0..5 (>= 1: drifted)
REFERENCE, CURRENT = "#64748b", "#ea580c"
DIST_W, DIST_H, DIST_LEFT, DIST_BOTTOM, DIST_TOP = 760, 240, 44, 46, 10


@dataclass(frozen=True)
class HeatCell:
    level: int | None  # None: no data in the window
    title: str
    href: str
    selected: bool


@dataclass(frozen=True)
class HeatRow:
    feature: str
    worst: float
    drifted: int
    cells: list[HeatCell]


@dataclass(frozen=True)
class Heatmap:
    columns: list[str]
    column_titles: list[str]
    rows: list[HeatRow]
    hidden: int


def level(value: float) -> int:
    return sum(value >= bound for bound in LEVELS)


def _cell_title(feature: str, when: str, found: FeatureDrift | None) -> str:
    if found is None:
        return f"{feature} · {when}: no data"
    p = "" if found.p_value is None else f", p={found.p_value:.3g}"
    verdict = "drift" if found.drift else "ok"
    return (
        f"{feature} · {when}: {found.method} {found.score:.4g}{p} (threshold {found.threshold}) — {verdict}"
    )


def build_heatmap(
    board: Dashboard, link: Callable[[str, int], str], selected: tuple[str, int] | None
) -> Heatmap:
    """Rows ordered worst first (highest severity in any window, then most drifted windows)."""
    starts: Sequence[datetime] = board.starts
    columns = [t.strftime("%H:%M") for t in starts]
    titles = [t.strftime("%Y-%m-%d %H:%M UTC") for t in starts]
    rows = []
    for feature, results in board.drift_cells.items():
        severities = [None if r is None else severity(r) for r in results]
        cells = [
            HeatCell(
                None if s is None else level(s),
                _cell_title(feature, titles[i], results[i]),
                link(feature, i),
                selected == (feature, i),
            )
            for i, s in enumerate(severities)
        ]
        worst = max((s for s in severities if s is not None), default=-1.0)
        drifted = sum(1 for r in results if r is not None and r.drift)
        rows.append(HeatRow(feature, worst, drifted, cells))
    rows.sort(key=lambda r: (-r.worst, -r.drifted, r.feature))
    return Heatmap(columns, titles, rows[:MAX_FEATURES], max(0, len(rows) - MAX_FEATURES))


@dataclass(frozen=True)
class DistBar:
    label: str
    title: str
    ref_x: float
    cur_x: float
    width: float
    ref_y: float
    ref_h: float
    cur_y: float
    cur_h: float
    label_x: float
    show_label: bool


@dataclass(frozen=True)
class DistChart:
    feature: str
    when: str
    kind: str
    bars: list[DistBar]
    width: int
    height: int
    base_y: float
    top_share: float
    reference_rows: int
    current_rows: int
    ref_colour: str = REFERENCE
    cur_colour: str = CURRENT


def distribution_chart(dist: Distribution, when: str) -> DistChart:
    n = max(1, len(dist.labels))
    plot_w, plot_h = DIST_W - DIST_LEFT - 8, DIST_H - DIST_TOP - DIST_BOTTOM
    top = max([*dist.reference, *dist.current, 1e-9])
    slot = plot_w / n
    bar = max(1.0, slot * 0.4)
    base = DIST_TOP + plot_h
    every = max(1, n // 12)
    bars = []
    for i, label in enumerate(dist.labels):
        ref, cur = dist.reference[i], dist.current[i]
        x = DIST_LEFT + i * slot + slot * 0.1
        ref_h, cur_h = ref / top * plot_h, cur / top * plot_h
        bars.append(
            DistBar(
                label,
                f"{label}: reference {ref:.1%}, current {cur:.1%}",
                x,
                x + bar,
                bar,
                base - ref_h,
                ref_h,
                base - cur_h,
                cur_h,
                DIST_LEFT + (i + 0.5) * slot,
                i % every == 0,
            )
        )
    return DistChart(
        dist.feature,
        when,
        dist.kind,
        bars,
        DIST_W,
        DIST_H,
        base,
        top,
        dist.reference_rows,
        dist.current_rows,
    )
