"""The numbers behind the monitoring dashboard (web UI) of one deployment, computed in one read of
the prediction log: per time bucket the drift score of every feature, prediction volume, mean
latency and quality; plus the current drift table, feature importance and alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.monitoring.drift import DriftReport, drift_report
from shipyard.monitoring.logs import read_log
from shipyard.monitoring.quality import WindowQuality, quality_over_time
from shipyard.monitoring.service import log_column, reference_for
from shipyard.monitoring.store import Alert, MonitoringStore
from shipyard.monitoring.windows import Window, buckets

if TYPE_CHECKING:
    from shipyard.tracking.stores import Stores


@dataclass
class Dashboard:
    deployment: str
    starts: list[datetime]
    model: str | None = None
    version: int | None = None
    drift_scores: dict[str, list[float | None]] = field(default_factory=dict)
    volume: list[int] = field(default_factory=list)
    latency_ms: list[float | None] = field(default_factory=list)
    quality: list[WindowQuality] = field(default_factory=list)
    current: DriftReport | None = None
    importance: dict[str, Any] | None = None
    alerts: list[Alert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_dashboard(  # noqa: PLR0917
    stores: Stores, deployment: str, log_dir: str, start: datetime, end: datetime, every: timedelta
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
    for lo, hi in spans:
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
            score = next((f.score for f in report.features if f.feature == name), None) if report else None
            board.drift_scores.setdefault(name, []).append(score)
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
