"""Metric series stored as columnar chunks: one ``metric_chunks`` row per key per written batch.

A batch of points is grouped by key; each group becomes one row holding three packed arrays
(little-endian int64 steps, float64 values, int64 timestamps in ms). Writing 5,000 points of one
key is then one row insert instead of 5,000 rows and 5,000 index entries, which is what lets a
``log_metric`` loop run at hundreds of thousands of calls per second on SQLite. Reading a series
concatenates its chunks in insertion order and sorts them stably by (step, timestamp), so points
that tie keep the order they were logged in. NaN is stored as NaN inside the arrays.

A page (:func:`read_page`) walks the chunks in the order they were written, from the position its
token names (``<chunk id>.<points to skip in that chunk>``), fetching a few chunks at a time: its
cost is the page's size, not the series'.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import sys
from array import array
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler

from shipyard.core.entities import Metric
from shipyard.core.errors import InvalidInputError
from shipyard.metadata.base import (
    METRIC_CHUNKS_PER_PAGE,
    METRIC_PAGE_MAX,
    MetricChunk,
    MetricChunksPage,
    MetricPage,
)
from shipyard.metadata.sql.codec import MetricColumns
from shipyard.metadata.sql.schema import latest_metrics, metric_chunks

_STEP = "<i8"  # numpy is imported on first use (reads): opening a store must not pay for it
_VALUE = "<f8"
_SWAP = sys.byteorder != "little"
_TOKEN_RE = re.compile(r"([1-9][0-9]{0,17})\.(0|[1-9][0-9]{0,9})")
_CHUNKS_PER_FETCH = 16


def _packed(typecode: str, items: Sequence[Any]) -> bytes:
    """Little-endian bytes of ``items`` (stdlib ``array``: cheap for a few points and for many)."""
    packed = array(typecode, items)
    if _SWAP:  # pragma: no cover - big-endian hosts only
        packed.byteswap()
    return packed.tobytes()


def _latest(steps: Sequence[int], stamps: Sequence[int]) -> int:
    """Index of the latest point: highest (step, timestamp); a later point wins a tie."""
    top = max(steps)
    if steps.count(top) == 1:  # the usual case, without a Python call per point
        return steps.index(top)
    return max((i for i, s in enumerate(steps) if s == top), key=lambda i: (stamps[i], i))


def _chunk(
    run_id: str, key: str, values: Sequence[float], steps: Sequence[int], stamps: Sequence[int]
) -> dict[str, Any]:
    last = _latest(steps, stamps)
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
    values, steps, stamps = columns.values, columns.steps, columns.timestamps
    spans = columns.spans()
    if spans is not None:  # each key's points in one run of the batch: slices, no per-point pass
        if len(spans) == 1:
            return [_chunk(run_id, columns.keys[0], values, steps, stamps)]
        return [_chunk(run_id, k, values[s:e], steps[s:e], stamps[s:e]) for k, s, e in sorted(spans)]
    groups = columns.groups()
    assert groups is not None  # a single key is a single span
    if len(groups) == len(columns.keys):  # one point per key (a log_batch of many metrics)
        return _singles(run_id, columns, sorted((k, i[0]) for k, i in groups.items()))
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


def _singles(run_id: str, columns: MetricColumns, points: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """:func:`_chunk` of each one-point key (``(key, its point's index)``, in that order): each
    column packed once for the whole batch and sliced per point (three array builds per key
    cost more than the insert)."""
    values, steps, stamps = columns.values, columns.steps, columns.timestamps
    packed_steps, packed_values = _packed("q", steps), _packed("d", values)
    packed_stamps = _packed("q", stamps)
    out = []
    for key, i in points:
        at, to = 8 * i, 8 * i + 8
        out.append(
            {
                "run_id": run_id,
                "key": key,
                "count": 1,
                "steps": packed_steps[at:to],
                "values": packed_values[at:to],
                "timestamps": packed_stamps[at:to],
                "_latest": (float(values[i]), int(steps[i]), int(stamps[i])),
            }
        )
    return out


_CHUNK_COLUMNS = ("run_id", "key", "count", "steps", "values", "timestamps")
_LATEST_COLUMNS = ("run_id", "key", "value", "step", "timestamp")
_CHUNK_ROW = operator.itemgetter(*_CHUNK_COLUMNS)  # a chunk's row for the insert, in C


def write_batch(conn: Connection, run_id: str, columns: MetricColumns) -> None:
    """Insert the batch's chunks and move ``latest_metrics`` forward, each in one executemany."""
    chunks = chunks_of(run_id, columns)
    _executemany(conn, "chunks", list(map(_CHUNK_ROW, chunks)))
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


def _position(token: str | None) -> tuple[int, int]:
    if token is None:
        return 0, 0
    found = _TOKEN_RE.fullmatch(token) if isinstance(token, str) else None
    if found is None:
        raise InvalidInputError(
            f"page_token {str(token)[:40]!r} is not one this server issued; pass back the previous "
            "page's next_page_token unchanged (or none for the first page)"
        )
    return int(found.group(1)), int(found.group(2))


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= METRIC_PAGE_MAX:
        raise InvalidInputError(f"limit must be between 1 and {METRIC_PAGE_MAX} points, got {limit!r}")
    return limit


def read_page(conn: Connection, run_id: str, key: str, limit: int, token: str | None) -> MetricPage:
    """At most ``limit`` points of one series in the order logged, from ``token``'s position."""
    values, steps, stamps, following = read_columns(conn, run_id, key, limit, token)
    return MetricPage(
        [Metric(key, v, s, t) for v, s, t in zip(values, steps, stamps, strict=True)], following
    )


def read_columns(
    conn: Connection, run_id: str, key: str, limit: int, token: str | None
) -> tuple[list[float], list[int], list[int], str | None]:
    """:func:`read_page` as (values, steps, timestamps, next token): no object per point."""
    import numpy as np

    check_limit(limit)
    chunk_id, skip = _position(token)
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int] = []
    while True:
        rows = conn.execute(_page_query(), {"run_id": run_id, "key": key, "chunk_id": chunk_id}).all()
        for row in rows:
            count = int(row[1])
            start = skip if row.id == chunk_id else 0
            take = min(count - start, limit - len(values))
            if take > 0:
                window = slice(start, start + take)
                values.extend(np.frombuffer(row[3], dtype=_VALUE)[window].tolist())
                steps.extend(np.frombuffer(row[2], dtype=_STEP)[window].tolist())
                stamps.extend(np.frombuffer(row[4], dtype=_STEP)[window].tolist())
            if len(values) >= limit:
                if start + take < count:
                    return values, steps, stamps, f"{row.id}.{start + take}"
                return values, steps, stamps, _after(conn, run_id, key, row.id)
        if len(rows) < _CHUNKS_PER_FETCH:
            return values, steps, stamps, None
        chunk_id, skip = rows[-1].id + 1, 0


@functools.cache
def _page_query() -> Any:
    """The chunks of one series from an id on, built once (a select's construction costs more
    than the query on a short series; the import reads every series of every run back)."""
    from sqlalchemy import bindparam

    c = metric_chunks.c
    return (
        select(c.id, c.count, c.steps, c["values"], c.timestamps)
        .where(c.run_id == bindparam("run_id"), c.key == bindparam("key"), c.id >= bindparam("chunk_id"))
        .order_by(c.id)
        .limit(_CHUNKS_PER_FETCH)
    )


def _after(conn: Connection, run_id: str, key: str, chunk_id: int) -> str | None:
    """The token of the chunk after ``chunk_id``, or None when it was the last."""
    c = metric_chunks.c
    following = conn.execute(
        select(c.id).where(c.run_id == run_id, c.key == key, c.id > chunk_id).order_by(c.id).limit(1)
    ).scalar()
    return None if following is None else f"{following}.0"


def read_run_chunks(conn: Connection, run_id: str, token: str | None) -> MetricChunksPage:
    """A page of the run's chunks, every key's, in (key, id) order (the index's: a page costs its
    chunks, not the run's), each column a numpy array over the chunk's bytes (no per-point
    object). The token is ``<last chunk id>:<its key>``."""
    import numpy as np

    c = metric_chunks.c
    query = select(c.id, c.key, c.steps, c["values"], c.timestamps).where(c.run_id == run_id)
    if token is not None:
        last, _, key = token.partition(":")
        if not _CHUNK_ID_RE.fullmatch(last) or not key:
            raise InvalidInputError(f"invalid page token {token[:80]!r}; pass a token this store returned")
        query = query.where(or_(c.key > key, (c.key == key) & (c.id > int(last))))
    rows = conn.execute(query.order_by(c.key, c.id).limit(METRIC_CHUNKS_PER_PAGE)).all()
    chunks = [
        MetricChunk(
            str(row[1]),
            np.frombuffer(row[3], dtype=_VALUE),
            np.frombuffer(row[2], dtype=_STEP),
            np.frombuffer(row[4], dtype=_STEP),
        )
        for row in rows
    ]
    more = len(rows) == METRIC_CHUNKS_PER_PAGE
    return MetricChunksPage(chunks, f"{rows[-1][0]}:{rows[-1][1]}" if more else None)


_CHUNK_ID_RE = re.compile(r"[1-9][0-9]{0,17}")
