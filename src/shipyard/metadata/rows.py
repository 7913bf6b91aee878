"""Row values of the metadata tables from entities, with the standard library only (param JSON,
code versions, task and artifact rows): shared by the SQL store (:mod:`.sql.codec`) and the stdlib
SQLite run store (:mod:`.sqlite_write`), so both write the same values."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.core.entities import ArtifactRecord, CodeVersion, Task, TaskStatus
from shipyard.core.errors import AlreadyExistsError, ConflictError, InvalidInputError
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


def tag_rows(run_id: str, tags: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A new run's tag rows (keys validated)."""
    return [{"run_id": run_id, "key": validate_key("tag", k), "value": str(v)} for k, v in tags.items()]


def check_task_batch(new: Sequence[Task]) -> None:
    """AlreadyExistsError when one (run, key) appears twice in a batch of new tasks."""
    seen: set[tuple[str, str]] = set()
    for task in new:
        ident = (task.run_id, task.key)
        if ident in seen:
            raise AlreadyExistsError(
                f"task key {task.key!r} appears twice in this batch for run {task.run_id!r}"
            )
        seen.add(ident)


def task_row(task: Task, seq: int) -> dict[str, Any]:
    row = {name: getattr(task, name) for name in TASK_FIELDS}
    row["status"] = TaskStatus(task.status).value
    row["spec"] = dict(task.spec)
    row["created_seq"] = seq
    return row


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


# ---- messages ----------------------------------------------------------------------------------
def resume_conflict(origin_run_id: str, holder: str | None) -> ConflictError:
    who, wait = (f"run {holder}", f" (`shipyard runs show {holder}`)") if holder else ("another run", "")
    return ConflictError(
        f"run {origin_run_id} is already being resumed by {who} (one resume of a run at a time); "
        f"wait until it finishes{wait}, or, if its process has stopped, resume again once its "
        "heartbeat is older than the heartbeat timeout (the stale run is then failed and its lease "
        "ends; `shipyard runs gc` fails stale runs)"
    )
