"""A day of traffic for the dashboard to show: `shipyard run flows/simulate.py`.

Writes 24 hourly windows of predictions of `models:/MODEL_NAME@candidate` into the deployment's
prediction log (the files `shipyard serve` writes; here back-dated over the last day), with a
shift growing over the afternoon on a few features, then the true labels (`shipyard.log_labels`).
In production the deployment writes the log and your label pipeline sends the labels: delete this
flow and point the dashboard at the deployment.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from config import DATA_PATH, DEPLOYMENT, MODEL_NAME
from data import LABEL, labelled_table

import shipyard
from shipyard import flow, step


def hourly_traffic(
    table: pd.DataFrame, hours: int, per_hour: int, shift_from: int, seed: int
) -> list[pd.DataFrame]:
    """`hours` samples of `per_hour` rows; from hour `shift_from` on, the first three features
    grow by 8 % more each hour (a drifting population)."""
    rng = np.random.default_rng(seed)
    features = [c for c in table.columns if c != LABEL][:3]
    out = []
    for hour in range(hours):
        sample = table.iloc[rng.integers(0, len(table), per_hour)].reset_index(drop=True)
        if hour >= shift_from:
            sample[features] = sample[features] * (1 + 0.08 * (hour - shift_from + 1))
        out.append(sample)
    return out


def write_predictions(log_dir: str, model: Any, hour_start: datetime, rows: pd.DataFrame) -> list[str]:
    """One hour of single-row requests in the prediction log's format (one Parquet segment)."""
    import pyarrow.parquet as pq

    from shipyard.monitoring.logs import deployment_dir
    from shipyard.serving.predlog import LogEntry, entries_table

    x = rows.drop(columns=[LABEL])
    predictions = model.predict(x).tolist()
    proba = model.predict_proba(x).tolist()
    version = getattr(model, "version", None)
    ids = [f"sim-{uuid.uuid4().hex[:12]}" for _ in range(len(rows))]
    step_s = 3600 / max(1, len(rows))
    entries = [
        LogEntry(
            request_id,
            hour_start + timedelta(seconds=i * step_s),
            MODEL_NAME,
            version,
            "primary",
            2.0,
            {c: [float(x.iloc[i][c])] for c in x.columns},
            [predictions[i]],
            [proba[i]],
        )
        for i, request_id in enumerate(ids)
    ]
    folder = deployment_dir(log_dir, DEPLOYMENT) / f"{hour_start:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        entries_table(entries, DEPLOYMENT), folder / f"{hour_start:%H%M%S}-sim-{ids[0][4:]}.parquet"
    )
    return ids


def log_traffic(hours: int, per_hour: int, shift_from: int, seed: int, path: str) -> dict[str, Any]:
    """Predictions of the candidate for the last `hours` hours, and their labels."""
    from shipyard.monitoring.logs import default_log_dir
    from shipyard.tracking.fluent import get_stores

    log_dir = default_log_dir(get_stores().settings.home)
    model = shipyard.load_model(f"models:/{MODEL_NAME}@candidate")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    ids: list[str] = []
    labels: list[int] = []
    for hour, rows in enumerate(hourly_traffic(labelled_table(path), hours, per_hour, shift_from, seed)):
        ids += write_predictions(log_dir, model, now - timedelta(hours=hours - hour), rows)
        labels += rows[LABEL].tolist()
    result = shipyard.log_labels(ids, labels, deployment=DEPLOYMENT, log_dir=log_dir)
    print(f"logged {len(ids)} predictions over {hours} h into {log_dir}; {result.matched} labelled")
    return {"predictions": len(ids), "labelled": result.matched, "log_dir": log_dir}


@step
def simulate(hours: int, per_hour: int, shift_from: int, seed: int, path: str) -> dict[str, Any]:
    logged = log_traffic(hours, per_hour, shift_from, seed, path)
    shipyard.log_metrics({"predictions": logged["predictions"], "labelled": logged["labelled"]})
    return logged


@flow
def traffic(hours: int = 24, per_hour: int = 60, shift_from: int = 14, seed: int = 0, data: str = DATA_PATH):
    return simulate(hours, per_hour, shift_from, seed, data)
