"""Conversions between entities and rows: param JSON, NaN metrics, code versions, tasks, artifacts."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from shipyard.core.entities import ArtifactRecord, CodeVersion, Metric, Task, TaskStatus
from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_key

_NUMBER_RE = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")


# ---- params -------------------------------------------------------------------------------
def param_json(key: str, value: Any) -> str:
    """Canonical JSON text of a param value (sorted keys, so equal dicts compare equal)."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"param {key!r} has a value of type {type(value).__name__} that is not JSON "
            f"({exc}); log a str, int, float, bool, None, list or dict"
        ) from None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value) if not isinstance(value, int) or abs(value) < 2**1000 else math.nan
    elif isinstance(value, str) and _NUMBER_RE.match(value):
        number = float(value)
    else:
        return None
    return None if math.isnan(number) else number


def param_row(run_id: str, key: str, value: Any) -> dict[str, Any]:
    text = param_json(key, value)
    return {
        "run_id": run_id,
        "key": validate_key("param", key),
        "value": text,
        "value_text": value if isinstance(value, str) else text,
        "value_num": _as_number(value),
    }


def param_value(text: str) -> Any:
    return json.loads(text)


def json_round_trip(value: Any) -> Any:
    """``value`` as it comes back from a JSON column (tuples become lists...)."""
    return None if value is None else json.loads(json.dumps(value, sort_keys=True))


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
        batch (an importer's batches), found with C-level ``count``s and no per-point Python
        loop; None otherwise (interleaved keys: see :meth:`groups`)."""
        keys = self.keys
        out: list[tuple[str, int, int]] = []
        start, n = 0, len(keys)
        while start < n:
            key = keys[start]
            end = start + keys.count(key)
            if end > n or keys[start:end].count(key) != end - start:
                return None
            out.append((key, start, end))
            start = end
            if len(out) > 64:  # many short series: the general path is as quick
                return None
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


# ---- runs ----------------------------------------------------------------------------------
def code_version_json(cv: CodeVersion | None) -> dict[str, Any] | None:
    if cv is None:
        return None
    data = dataclasses.asdict(cv)
    data["source_files"] = list(cv.source_files)
    return data


def code_version_from(data: dict[str, Any] | None) -> CodeVersion | None:
    if data is None:
        return None
    fields = {f.name for f in dataclasses.fields(CodeVersion)}
    clean = {k: v for k, v in data.items() if k in fields}
    clean["source_files"] = tuple(clean.get("source_files") or ())
    return CodeVersion(**clean)


# ---- tasks and artifacts -----------------------------------------------------------------------
TASK_FIELDS = (
    "id", "run_id", "step", "key", "index", "status", "attempts", "started_at", "ended_at",
    "heartbeat_at", "error", "cache_key", "reused_from", "node", "spec",
)  # fmt: skip


def task_row(task: Task, seq: int) -> dict[str, Any]:
    row = {name: getattr(task, name) for name in TASK_FIELDS}
    row["status"] = TaskStatus(task.status).value
    row["spec"] = dict(task.spec)
    row["created_seq"] = seq
    return row


def task_from(row: Row[Any]) -> Task:
    m = row._mapping
    values = {name: m[name] for name in TASK_FIELDS}
    values["status"] = TaskStatus(m["status"])
    values["spec"] = m["spec"] or {}
    return Task(**values)


def artifact_row(a: ArtifactRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "run_id": a.run_id,
        "task_id": a.task_id or "",
        "name": validate_key("artifact", a.name),
        "digest": a.digest,
        "size": int(a.size),
        "serializer": a.serializer,
        "created_at": a.created_at,
        "unsafe": bool(a.unsafe),
        "meta": dict(a.meta),
        "attempt": a.attempt,
    }


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
