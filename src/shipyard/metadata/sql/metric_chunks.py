"""Metric series stored as columnar chunks: one ``metric_chunks`` row per key per written batch.

A batch of points is grouped by key; each group becomes one row holding three packed arrays
(little-endian int64 steps, float64 values, int64 timestamps in ms). Writing 5,000 points of one
key is then one row insert instead of 5,000 rows and 5,000 index entries, which is what lets a
``log_metric`` loop run at hundreds of thousands of calls per second on SQLite. Reading a series
concatenates its chunks in insertion order and sorts them stably by (step, timestamp), so points
that tie keep the order they were logged in. NaN is stored as NaN inside the arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from shipyard.core.entities import Metric
from shipyard.metadata.sql.codec import MetricColumns
from shipyard.metadata.sql.schema import metric_chunks

_STEP = "<i8"  # numpy is imported on first use: opening a store must not pay for it
_VALUE = "<f8"


def _chunk(run_id: str, key: str, values: Any, steps: Any, timestamps: Any) -> dict[str, Any]:
    import numpy as np

    step_array = np.asarray(steps, dtype=_STEP)
    time_array = np.asarray(timestamps, dtype=_STEP)
    value_array = np.asarray(values, dtype=_VALUE)
    # the latest point: highest (step, timestamp); lexsort is stable, so a later point wins a tie
    last = int(np.lexsort((time_array, step_array))[-1])
    return {
        "run_id": run_id,
        "key": key,
        "count": int(step_array.shape[0]),
        "steps": step_array.tobytes(),
        "values": value_array.tobytes(),
        "timestamps": time_array.tobytes(),
        "_latest": (float(value_array[last]), int(step_array[last]), int(time_array[last])),
    }


def chunks_of(run_id: str, columns: MetricColumns) -> list[dict[str, Any]]:
    """One row (with its latest point under ``_latest``) per key of the batch."""
    import numpy as np

    groups = columns.groups()
    if groups is None:
        return [_chunk(run_id, columns.keys[0], columns.values, columns.steps, columns.timestamps)]
    values = np.asarray(columns.values, dtype=_VALUE)
    steps = np.asarray(columns.steps, dtype=_STEP)
    timestamps = np.asarray(columns.timestamps, dtype=_STEP)
    rows = []
    for key in sorted(groups):
        index = np.asarray(groups[key], dtype=np.intp)
        rows.append(_chunk(run_id, key, values[index], steps[index], timestamps[index]))
    return rows


def insert_chunks(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    conn.execute(
        metric_chunks.insert(), [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    )


def read_series(conn: Connection, run_id: str, key: str) -> list[Metric]:
    """Every point of one series, ordered by step, then timestamp, then the order logged."""
    query = (
        select(metric_chunks.c.steps, metric_chunks.c["values"], metric_chunks.c.timestamps)
        .where(metric_chunks.c.run_id == run_id, metric_chunks.c.key == key)
        .order_by(metric_chunks.c.id)
    )
    parts = conn.execute(query).all()
    if not parts:
        return []
    import numpy as np

    steps = np.concatenate([np.frombuffer(p[0], dtype=_STEP) for p in parts])
    values = np.concatenate([np.frombuffer(p[1], dtype=_VALUE) for p in parts])
    timestamps = np.concatenate([np.frombuffer(p[2], dtype=_STEP) for p in parts])
    order = np.lexsort((timestamps, steps))  # stable: ties keep insertion order
    return [
        Metric(key, v, s, t)
        for v, s, t in zip(
            values[order].tolist(), steps[order].tolist(), timestamps[order].tolist(), strict=True
        )
    ]
