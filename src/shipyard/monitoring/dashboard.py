"""The numbers behind the monitoring dashboard (web UI) of one deployment, computed in one read of
the prediction log: per time bucket the drift score (and verdict) of every feature, prediction
volume, mean latency and quality; plus the current drift table, feature importance and alerts.
With ``focus=(feature, bucket)`` also that feature's distribution in that bucket against the
reference (:func:`feature_distribution`: shares on a common binning, at most ``DISPLAY_BINS``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.monitoring.drift import METHODS, DriftReport, FeatureDrift, drift_report
from shipyard.monitoring.logs import read_log
from shipyard.monitoring.quality import WindowQuality, quality_over_time
from shipyard.monitoring.service import log_column, reference_for
from shipyard.monitoring.sketch import NumericSketch, Sketch
from shipyard.monitoring.store import Alert, MonitoringStore
from shipyard.monitoring.windows import Window, buckets

if TYPE_CHECKING:
    from shipyard.tracking.stores import Stores


DISPLAY_BINS = 32  # numeric distributions: at most this many bars
DISPLAY_CATEGORIES = 20  # categorical: the most common ones, the rest as "(other)"
SEVERITY_CAP = 10.0


def severity(drift: FeatureDrift) -> float:
    """How far a feature is past its threshold, comparable across methods: 1 at the threshold,
    above 1 drifted. A distance divided by its threshold; a p-value test's threshold divided by the
    p-value (on a log scale past 1, so p = 1e-300 does not dwarf everything). Capped at SEVERITY_CAP."""
    import math

    if METHODS[drift.method][1]:
        p = drift.p_value if drift.p_value is not None else 1.0
        ratio = drift.threshold / max(p, 1e-300)
        value = ratio if ratio <= 1 else 1 + math.log10(ratio)
    else:
        value = drift.score / drift.threshold if drift.threshold > 0 else 0.0
    if drift.drift:
        value = max(value, 1.0)
    elif value >= 1:
        value = 0.999  # the verdict (e.g. KS's p <= threshold) decides which side of 1
    return min(max(value, 0.0), SEVERITY_CAP) if math.isfinite(value) else SEVERITY_CAP


@dataclass(frozen=True)
class Distribution:
    """One feature's distribution in one bucket and in the reference, as shares of their rows."""

    feature: str
    bucket: int
    kind: str  # "numeric" | "categorical"
    labels: list[str]  # a bar's bin (numeric: its lower edge) or category
    reference: list[float]
    current: list[float]
    reference_rows: int
    current_rows: int


def _shares(counts: Any) -> list[float]:
    total = float(sum(counts))
    return [float(c) / total if total else 0.0 for c in counts]


def feature_distribution(feature: str, bucket: int, ref: Sketch, values: Any) -> Distribution:
    """``values`` (the bucket's raw column) and the reference sketch on one binning: numeric values
    on the reference's grid, its bins grouped into at most DISPLAY_BINS (tails into the end bars);
    categories: the DISPLAY_CATEGORIES most common of both, the rest together."""
    import numpy as np

    if isinstance(ref, NumericSketch):
        groups = min(DISPLAY_BINS, ref.bins)
        core = ref.counts[ref.tail : ref.tail + ref.bins]
        group_of = (np.arange(ref.bins) * groups) // ref.bins
        ref_counts = np.bincount(group_of, weights=core, minlength=groups)
        ref_counts[0] += ref.counts[: ref.tail].sum()
        ref_counts[-1] += ref.counts[ref.tail + ref.bins :].sum()
        arr = np.asarray(values, dtype=np.float64).ravel()
        arr = arr[np.isfinite(arr)]
        core_index = np.clip(np.floor((arr - ref.lo) / (ref.hi - ref.lo) * ref.bins), 0, ref.bins - 1)
        cur_counts = np.bincount(group_of[core_index.astype(np.int64)], minlength=groups)
        firsts = [int(np.argmax(group_of == g)) for g in range(groups)]
        width = (ref.hi - ref.lo) / ref.bins
        labels = [f"{ref.lo + first * width:.4g}" for first in firsts]
        return Distribution(
            feature, bucket, "numeric", labels, _shares(ref_counts), _shares(cur_counts), ref.n, int(arr.size)
        )
    cur = ref.like(values)
    ref_total, cur_total = max(ref.n, 1), max(cur.n, 1)
    ranked = sorted(
        set(ref.counts) | set(cur.counts),
        key=lambda k: (-(ref.counts.get(k, 0) / ref_total + cur.counts.get(k, 0) / cur_total), k),
    )
    shown, rest = ranked[:DISPLAY_CATEGORIES], ranked[DISPLAY_CATEGORIES:]
    ref_cats = [ref.counts.get(k, 0) for k in shown]
    cur_cats = [cur.counts.get(k, 0) for k in shown]
    if rest:
        shown = [*shown, "(other)"]
        ref_cats.append(sum(ref.counts.get(k, 0) for k in rest))
        cur_cats.append(sum(cur.counts.get(k, 0) for k in rest))
    return Distribution(
        feature, bucket, "categorical", shown, _shares(ref_cats), _shares(cur_cats), ref.n, cur.n
    )


@dataclass
class Dashboard:
    deployment: str
    starts: list[datetime]
    model: str | None = None
    version: int | None = None
    drift_scores: dict[str, list[float | None]] = field(default_factory=dict)
    #: per feature and bucket the test's result (None: no data in the bucket)
    drift_cells: dict[str, list[FeatureDrift | None]] = field(default_factory=dict)
    distribution: Distribution | None = None
    volume: list[int] = field(default_factory=list)
    latency_ms: list[float | None] = field(default_factory=list)
    quality: list[WindowQuality] = field(default_factory=list)
    current: DriftReport | None = None
    importance: dict[str, Any] | None = None
    alerts: list[Alert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_dashboard(  # noqa: PLR0917
    stores: Stores,
    deployment: str,
    log_dir: str,
    start: datetime,
    end: datetime,
    every: timedelta,
    focus: tuple[str, int] | None = None,
) -> Dashboard:
    import pandas as pd

    spans = buckets(start, end, every)
    board = Dashboard(deployment, [lo for lo, _ in spans])
    table = read_log(log_dir, deployment, Window(start, end))
    frame = table.to_pandas() if table.num_rows else None
    profile = None
    if frame is not None:
        counts = frame.groupby(["model", "version"]).size().sort_values(ascending=False)
        board.model, board.version = str(counts.index[0][0]), int(counts.index[0][1])
        try:
            profile = reference_for(stores, board.model, board.version)
        except NotFoundError as exc:
            board.notes.append(exc.message)
    else:
        board.notes.append("no predictions logged in this window")
    if profile is not None and frame is not None:
        frame = frame.rename(columns={log_column(f): f for f in profile.features if log_column(f) != f})
    for index, (lo, hi) in enumerate(spans):
        part = (
            None
            if frame is None
            else frame[(frame["ts"] >= pd.Timestamp(lo)) & (frame["ts"] < pd.Timestamp(hi))]
        )
        board.volume.append(0 if part is None else len(part))
        board.latency_ms.append(None if part is None or not len(part) else float(part["latency_ms"].mean()))
        report = None
        if profile is not None and part is not None and len(part):
            try:
                report = drift_report(profile, part)
            except ShipyardError:
                report = None
        for name in profile.features if profile is not None else []:
            found = next((f for f in report.features if f.feature == name), None) if report else None
            board.drift_scores.setdefault(name, []).append(None if found is None else found.score)
            board.drift_cells.setdefault(name, []).append(found)
        if focus is not None and focus[1] == index and profile is not None and part is not None:
            name = focus[0]
            if name in profile.features and name in part.columns:
                board.distribution = feature_distribution(
                    name, index, profile.features[name], part[name].to_numpy()
                )
    if profile is not None and frame is not None:
        try:
            board.current = drift_report(profile, frame)
        except ShipyardError as exc:
            board.notes.append(str(exc))
    board.quality = quality_over_time(log_dir, deployment, start, end, every)
    monitoring = MonitoringStore(stores)
    if board.model is not None and board.version is not None:
        board.importance = monitoring.get_importance(board.model, board.version)
    mine = {m["name"] for m in monitoring.list_monitors() if m.get("deployment") == deployment}
    board.alerts = [a for a in monitoring.alerts() if a.monitor in mine]
    return board


def deployments(log_dir: str) -> list[str]:
    """Deployments with a prediction log under ``log_dir``."""
    from pathlib import Path

    root = Path(log_dir)
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
