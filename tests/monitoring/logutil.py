"""Writing prediction-log segments the way serving does (its own entries_table), for tests."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from shipyard.serving.predlog import LogEntry, entries_table

_SEQ = itertools.count()


def write_log(
    log_dir: Path,
    deployment: str,
    ts: list[datetime],
    features: dict[str, Any],
    predictions: list[Any],
    *,
    model: str = "m",
    version: int = 1,
    proba: list[list[float]] | None = None,
    ids: list[str] | None = None,
) -> list[str]:
    """One single-row request per element; returns the request ids."""
    ids = ids or [f"r{next(_SEQ)}" for _ in ts]
    entries = [
        LogEntry(
            rid,
            t,
            model,
            version,
            "primary",
            1.0 + i % 5,
            {k: [np.asarray(v)[i].item()] for k, v in features.items()},
            [predictions[i]],
            [proba[i]] if proba is not None else None,
        )
        for i, (rid, t) in enumerate(zip(ids, ts, strict=True))
    ]
    table = entries_table(entries, deployment)
    day = ts[0].strftime("%Y-%m-%d")
    folder = log_dir / deployment / day
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"000000-1-{next(_SEQ):06d}.parquet")
    return ids
