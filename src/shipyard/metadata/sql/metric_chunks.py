"""Metric series stored as columnar chunks: one ``metric_chunks`` row per key per written batch.

A batch of points is grouped by key; each group becomes one row holding three packed arrays
(little-endian int64 steps, float64 values, int64 timestamps in ms). Writing 5,000 points of one
key is then one row insert instead of 5,000 rows and 5,000 index entries, which is what lets a
``log_metric`` loop run at hundreds of thousands of calls per second on SQLite. Reading a series
concatenates its chunks in insertion order and sorts them stably by (step, timestamp), so points
that tie keep the order they were logged in. NaN is stored as NaN inside the arrays.
"""

from __future__ import annotations

import functools
import math
import sys
from array import array
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler

from shipyard.core.entities import Metric
from shipyard.metadata.sql.codec import MetricColumns
from shipyard.metadata.sql.schema import latest_metrics, metric_chunks

_STEP = "<i8"  # numpy is imported on first use (reads): opening a store must not pay for it
_VALUE = "<f8"
_SWAP = sys.byteorder != "little"


def _packed(typecode: str, items: Sequence[Any]) -> bytes:
    """Little-endian bytes of ``items`` (stdlib ``array``: cheap for a few points and for many)."""
    packed = array(typecode, items)
    if _SWAP:  # pragma: no cover - big-endian hosts only
        packed.byteswap()
    return packed.tobytes()


def _chunk(
    run_id: str, key: str, values: Sequence[float], steps: Sequence[int], stamps: Sequence[int]
) -> dict[str, Any]:
    # the latest point: highest (step, timestamp); a later point wins a tie
    last = max(range(len(steps)), key=lambda i: (steps[i], stamps[i], i))
    return {
        "run_id": run_id,
        "key": key,
        "count": len(steps),
        "steps": _packed("q", steps),
        "values": _packed("d", values),
        "timestamps": _packed("q", stamps),
        "_latest": (float(values[last]), int(steps[last]), int(stamps[last])),
    }


def chunks_of(run_id: str, columns: MetricColumns) -> list[dict[str, Any]]:
    """One row (with its latest point under ``_latest``) per key of the batch."""
    groups = columns.groups()
    if groups is None:
        return [_chunk(run_id, columns.keys[0], columns.values, columns.steps, columns.timestamps)]
    values, steps, stamps = columns.values, columns.steps, columns.timestamps
    return [
        _chunk(
            run_id,
            key,
            [values[i] for i in index],
            [steps[i] for i in index],
            [stamps[i] for i in index],
        )
        for key, index in sorted(groups.items())
    ]


_CHUNK_COLUMNS = ("run_id", "key", "count", "steps", "values", "timestamps")
_LATEST_COLUMNS = ("run_id", "key", "value", "step", "timestamp")


def write_batch(conn: Connection, run_id: str, columns: MetricColumns) -> None:
    """Insert the batch's chunks and move ``latest_metrics`` forward, each in one executemany."""
    chunks = chunks_of(run_id, columns)
    _executemany(conn, "chunks", [tuple(c[k] for k in _CHUNK_COLUMNS) for c in chunks])
    latest = sorted((c["key"], c["_latest"]) for c in chunks)  # one lock order for concurrent writers
    rows = [(run_id, key, None if math.isnan(v) else v, s, t) for key, (v, s, t) in latest]
    _executemany(conn, "latest", rows)  # NaN as NULL: it never satisfies a filter


@functools.lru_cache(maxsize=8)
def _compiled(dialect: Dialect, which: str) -> SQLCompiler:
    names: tuple[str, ...]
    if which == "chunks":
        stmt: Any = metric_chunks.insert()
        names = _CHUNK_COLUMNS
    else:
        stmt = (postgresql if dialect.name == "postgresql" else sqlite).insert(latest_metrics)
        old, new = latest_metrics.c, stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[old.run_id, old.key],
            set_={"value": new.value, "step": new.step, "timestamp": new.timestamp},
            where=or_(new.step > old.step, (new.step == old.step) & (new.timestamp >= old.timestamp)),
        )
        names = _LATEST_COLUMNS
    compiled = stmt.compile(dialect=dialect, column_keys=list(names))
    assert isinstance(compiled, SQLCompiler)
    return compiled


def _executemany(conn: Connection, which: str, rows: list[tuple[Any, ...]]) -> None:
    """Straight on the driver: SQLAlchemy's per-row parameter processing would cost more than the
    insert itself. The SQL text comes from SQLAlchemy's compiler (cached per dialect); values are
    always passed as data, never formatted into it."""
    names: tuple[str, ...] = _CHUNK_COLUMNS if which == "chunks" else _LATEST_COLUMNS
    compiled = _compiled(conn.dialect, which)
    if compiled.positional:
        order = [names.index(name) for name in compiled.positiontup or ()]
        if order != list(range(len(names))):
            rows = [tuple(r[i] for i in order) for r in rows]
        conn.exec_driver_sql(compiled.string, rows)
    else:
        conn.exec_driver_sql(compiled.string, [dict(zip(names, r, strict=True)) for r in rows])


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
