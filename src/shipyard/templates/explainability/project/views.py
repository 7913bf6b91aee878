"""The dashboard's tables, from shipyard's monitoring API (`shipyard.monitoring.dashboard`): pure
functions of a `Dashboard`, so they are tested without Streamlit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd


def load_board(
    home: str | None, deployment: str, hours: int, bucket_minutes: int
) -> tuple[Any, pd.DataFrame]:
    """The deployment's dashboard over the last `hours` in buckets, and its logged predictions."""
    from shipyard.core.settings import load_settings
    from shipyard.monitoring.dashboard import build_dashboard
    from shipyard.monitoring.logs import default_log_dir, read_log
    from shipyard.monitoring.windows import Window
    from shipyard.tracking.stores import open_stores

    settings = load_settings(**({"home": home} if home else {}))
    stores = open_stores(settings)
    try:
        log_dir = default_log_dir(settings.home)
        end = datetime.now().astimezone() + timedelta(minutes=1)
        start = end - timedelta(hours=hours)
        board = build_dashboard(stores, deployment, log_dir, start, end, timedelta(minutes=bucket_minutes))
        log = read_log(log_dir, deployment, Window(start, end), columns=["prediction"]).to_pandas()
    finally:
        stores.close()
    return board, log


def deployments(home: str | None) -> list[str]:
    from shipyard.core.settings import load_settings
    from shipyard.monitoring.dashboard import deployments as logged
    from shipyard.monitoring.logs import default_log_dir

    settings = load_settings(**({"home": home} if home else {}))
    return logged(default_log_dir(settings.home))


def quality_frame(board: Any, metric: str = "f1") -> pd.DataFrame:
    """One row per time window: its start, `metric` (None when no label arrived), counts."""
    rows = [
        {
            "window": q.start,
            metric: q.metrics.get(metric),
            "predictions": q.predictions,
            "labelled": q.labelled,
        }
        for q in board.quality
    ]
    return pd.DataFrame(rows, columns=["window", metric, "predictions", "labelled"])


def drift_frame(board: Any, top: int = 8) -> pd.DataFrame:
    """Drift score per feature (columns) and window (rows); the `top` most drifted features."""
    frame = pd.DataFrame(board.drift_scores, index=pd.Index(board.starts, name="window")).astype("float64")
    if frame.empty:
        return frame
    order = frame.max().sort_values(ascending=False).index[:top]
    return frame[order]


def importance_frame(board: Any) -> pd.DataFrame:
    """Permutation importance stored with the model version: mean and std per feature."""
    items = (board.importance or {}).items()
    rows = [{"feature": k, "importance": v.get("mean", 0.0), "std": v.get("std", 0.0)} for k, v in items]
    frame = pd.DataFrame(rows, columns=["feature", "importance", "std"])
    return frame.sort_values("importance", ascending=False).reset_index(drop=True)


def prediction_counts(log: pd.DataFrame) -> pd.DataFrame:
    """How often each predicted value was returned."""
    if log.empty or "prediction" not in log.columns:
        return pd.DataFrame(columns=["prediction", "count"])
    counts = log["prediction"].astype(str).value_counts().sort_index()
    return counts.rename_axis("prediction").reset_index(name="count")
