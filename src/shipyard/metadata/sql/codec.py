"""Conversions between entities and rows: param JSON, NaN metrics, code versions, tasks, artifacts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from shipyard.core.entities import ArtifactRecord, Metric, Task, TaskStatus
from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_key

# the row values shared with the stdlib SQLite run store (shipyard.metadata.sqlite_write)
from shipyard.metadata.rows import (
    TASK_FIELDS,
    artifact_row,
    code_version_from,
    code_version_json,
    json_round_trip,
    param_json,
    param_row,
    param_value,
    task_row,
)

__all__ = [
    "TASK_FIELDS",
    "MetricColumns",
    "artifact_from",
    "artifact_row",
    "code_version_from",
    "code_version_json",
    "json_round_trip",
    "metric_columns",
    "metric_value",
    "param_json",
    "param_row",
    "param_value",
    "task_from",
    "task_row",
]


# ---- metrics ------------------------------------------------------------------------------
def metric_value(value: float | None) -> float:
    return math.nan if value is None else float(value)


class MetricColumns:
    """Validated points of one batch as parallel lists (the shape both writes and reads use)."""

    __slots__ = ("keys", "steps", "timestamps", "values")

    def __init__(self, keys: list[str], values: list[float], steps: list[int], timestamps: list[int]) -> None:
        self.keys = keys
        self.values = values
        self.steps = steps
        self.timestamps = timestamps

    def __len__(self) -> int:
        return len(self.keys)

    def spans(self) -> list[tuple[str, int, int]] | None:
        """``(key, start, end)`` per key when each key's points are one contiguous run of the
        batch (an importer's batches), None otherwise (interleaved keys: see :meth:`groups`).
        Each run's end is found by a galloping then binary search (as if the keys were
        contiguous), then proved by a C-level ``count`` of the run alone: runs that are each of
        one key, end where the key changes, and hold distinct keys are exactly the keys' runs, in
        one pass over the batch whatever its number of keys."""
        keys = self.keys
        out: list[tuple[str, int, int]] = []
        seen: set[str] = set()
        start, n = 0, len(keys)
        while start < n:
            key = keys[start]
            if key in seen or len(out) >= 64:  # back after another key; or many short series,
                return None  # where the general path is as quick
            seen.add(key)
            end = _run_end(keys, start, key)
            if keys[start:end].count(key) != end - start:
                return None
            out.append((key, start, end))
            start = end
        return out

    def groups(self) -> dict[str, list[int]] | None:
        """Row indices per key, or None when every point has the same key (the common case)."""
        keys = self.keys
        first = keys[0]
        if keys.count(first) == len(keys):
            return None
        out: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            group = out.get(key)
            if group is None:
                out[key] = [i]
            else:
                group.append(i)
        return out


def metric_columns(metrics: Sequence[Metric]) -> MetricColumns:
    """Validated points as parallel columns (the chunked writer packs them into arrays)."""
    keys = [m.key for m in metrics]
    for key in set(keys):
        validate_key("metric", key)
    values = [m.value for m in metrics]
    steps = [m.step for m in metrics]
    timestamps = [m.timestamp for m in metrics]
    if not (
        all(v.__class__ is float for v in values)
        and all(s.__class__ is int for s in steps)
        and all(t.__class__ is int for t in timestamps)
    ):  # the SDK's batches are already floats and ints; anything else is converted or refused
        for i, m in enumerate(metrics):
            try:
                values[i], steps[i], timestamps[i] = float(m.value), int(m.step), int(m.timestamp)
            except (TypeError, ValueError, OverflowError):
                raise InvalidInputError(
                    f"metric {m.key!r}: value must be a number and step/timestamp integers, "
                    f"got value={m.value!r}, step={m.step!r}, timestamp={m.timestamp!r}"
                ) from None
    return MetricColumns(keys, values, steps, timestamps)


def task_from(row: Row[Any]) -> Task:
    m = row._mapping
    values = {name: m[name] for name in TASK_FIELDS}
    values["status"] = TaskStatus(m["status"])
    values["spec"] = m["spec"] or {}
    return Task(**values)


def artifact_from(row: Row[Any]) -> ArtifactRecord:
    m = row._mapping
    return ArtifactRecord(
        id=m["id"],
        run_id=m["run_id"],
        name=m["name"],
        digest=m["digest"],
        size=m["size"],
        serializer=m["serializer"],
        created_at=m["created_at"],
        task_id=m["task_id"] or None,
        unsafe=bool(m["unsafe"]),
        meta=m["meta"] or {},
        attempt=m["attempt"],
    )


def _run_end(keys: list[str], start: int, key: str) -> int:
    """Where the run of ``key`` from ``start`` ends, were the batch's keys contiguous: an index
    past ``start`` with ``keys[end] != key`` (or the end of the batch) and ``keys[end - 1] == key``
    (galloping from ``start``, then halving)."""
    low, step, n = start, 1, len(keys)  # keys[low] == key throughout
    while low + step < n and keys[low + step] == key:
        low += step
        step *= 2
    high = min(low + step, n)  # keys[high] != key, or high == n
    while high - low > 1:
        mid = (low + high) // 2
        if keys[mid] == key:
            low = mid
        else:
            high = mid
    return high
