"""The flow-run path's statements on a SQLite metadata database, with the standard library's ``sqlite3``.

Each function is the plain-SQL twin of the SQL store's (:mod:`shipyard.metadata.sql.runs`,
``.tasks``, ``.attempts``) for the schema at its head revision, run inside the caller's transaction
(:class:`shipyard.metadata.sqlite_store.SqliteRunStore`). The values written are those of
:mod:`shipyard.metadata.rows` (shared with the SQL store); times are integer microseconds since the
epoch and JSON documents canonical text, as the SQL store's column types store them. The contract
suite runs the same tests over both (``tests/contract``: backend ``sqlite-stdlib``).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from shipyard.core.branches import validate_namespace
from shipyard.core.clock import from_micros, to_micros
from shipyard.core.entities import (
    ORCHESTRATOR_TAG,
    ArtifactRecord,
    LineageEdge,
    Run,
    RunCreate,
    RunStatus,
    Task,
    TaskStatus,
)
from shipyard.core.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from shipyard.core.names import validate_name
from shipyard.metadata import rows

# the SQL store's clock (shipyard.metadata.sql.dialect.store_now): microseconds since the epoch
NOW_US = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
UNREADABLE = "$unreadable"  # as shipyard.metadata.sql.types.DocumentJsonText
_IN_CHUNK = 500
_RUN_COLUMNS = (
    "id, name, namespace, user, status, start_time, end_time, heartbeat_at, flow_name, flow_spec, "
    "code_version, origin_run_id, error"
)
_TASK_COLUMNS = ", ".join(f'"{name}"' for name in rows.TASK_FIELDS)  # "index" and "key" are keywords
_ARTIFACT_FIELDS = (
    "id", "run_id", "task_id", "name", "digest", "size", "serializer", "created_at", "unsafe", "meta",
    "attempt",
)  # fmt: skip
_ARTIFACT_COLUMNS = ", ".join(_ARTIFACT_FIELDS)
_TIMES = frozenset({"started_at", "ended_at", "heartbeat_at", "start_time", "end_time", "created_at"})


# ---- value encodings (the SQL store's column types) -----------------------------------------
def _micros(value: datetime | None) -> int | None:
    return None if value is None else to_micros(value)


def _time(value: Any) -> datetime | None:
    return None if value is None else from_micros(int(value))


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _document(text: str | None) -> Any:
    """DocumentJsonText's read: text that does not decode comes back as ``{"$unreadable": why}``."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        return {UNREADABLE: f"the stored JSON does not decode: {str(exc)[:80]}"}


def _bind(column: str, value: Any) -> Any:
    if column in _TIMES:
        return _micros(value)
    if column in ("spec", "meta"):
        return _json(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _insert(conn: sqlite3.Connection, table: str, row: Mapping[str, Any], suffix: str = "") -> int:
    names = list(row)
    sql = f"INSERT INTO {table} ({_quoted(names)}) VALUES ({_marks(len(names))}){suffix}"
    return conn.execute(sql, [_bind(n, row[n]) for n in names]).rowcount


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK)]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


# ---- runs ---------------------------------------------------------------------------------------
def require_run(conn: sqlite3.Connection, run_id: str) -> None:
    if conn.execute("SELECT id FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        raise NotFoundError(f"run {run_id!r} not found")


def resuming_run(conn: sqlite3.Connection, origin_run_id: str) -> str | None:
    row = conn.execute(
        "SELECT id FROM runs WHERE origin_run_id = ? AND status = ? LIMIT 1",
        (origin_run_id, RunStatus.RUNNING.value),
    ).fetchone()
    return None if row is None else str(row[0])


def create_run(conn: sqlite3.Connection, run: RunCreate) -> Run:
    """As :func:`shipyard.metadata.sql.runs.create_run`."""
    if not run.id or not isinstance(run.id, str) or len(run.id) > 64:
        raise InvalidInputError(f"run id {run.id!r} must be a non-empty string of at most 64 characters")
    code_version = rows.code_version_json(run.code_version)
    row = {
        "id": run.id,
        "name": validate_name("run", run.name, new=True),
        "namespace": validate_namespace(run.namespace, new=True),
        "user": run.user,
        "status": RunStatus.RUNNING.value,
        "start_time": _micros(run.start_time),
        "end_time": None,
        "flow_name": run.flow_name,
        "flow_spec": _json(run.flow_spec),
        "code_version": _json(code_version),
        "origin_run_id": run.origin_run_id,
        "error": None,
    }
    param_rows = [rows.param_row(run.id, k, v) for k, v in run.params.items()]
    tag_rows = rows.tag_rows(run.id, run.tags)
    if run.origin_run_id is not None:
        holder = resuming_run(conn, run.origin_run_id)
        if holder is not None:
            raise rows.resume_conflict(run.origin_run_id, holder)
    names = list(row)
    try:
        beat = conn.execute(
            f"INSERT INTO runs ({_quoted(names)}, heartbeat_at) "
            f"VALUES ({_marks(len(names))}, {NOW_US}) RETURNING heartbeat_at",
            [row[n] for n in names],
        ).fetchone()[0]
    except sqlite3.IntegrityError:
        raise AlreadyExistsError(f"a run with id {run.id!r} already exists; use a new id") from None
    for param in param_rows:
        _insert(conn, "params", param)
    for tag in tag_rows:
        _insert(conn, "tags", tag)
    return Run(
        id=run.id,
        name=run.name,
        namespace=run.namespace,
        user=run.user,
        status=RunStatus.RUNNING,
        start_time=from_micros(to_micros(run.start_time)),
        end_time=None,
        heartbeat_at=from_micros(int(beat)),
        params={r["key"]: rows.param_value(r["value"]) for r in param_rows},
        tags={r["key"]: r["value"] for r in tag_rows},
        metrics={},
        flow_name=run.flow_name,
        flow_spec=rows.json_round_trip(run.flow_spec),
        code_version=rows.code_version_from(code_version),
        origin_run_id=run.origin_run_id,
    )


def get_run(conn: sqlite3.Connection, run_id: str) -> Run:
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"run {run_id!r} not found")
    params = {
        str(k): rows.param_value(v)
        for k, v in conn.execute("SELECT key, value FROM params WHERE run_id = ?", (run_id,))
    }
    tags = {
        str(k): str(v) for k, v in conn.execute("SELECT key, value FROM tags WHERE run_id = ?", (run_id,))
    }
    metrics = {
        str(k): math.nan if v is None else float(v)
        for k, v in conn.execute("SELECT key, value FROM latest_metrics WHERE run_id = ?", (run_id,))
    }
    ident, name, namespace, user, status, start, end, beat, flow, spec, code, origin, error = row
    code_version = None if code is None else json.loads(code)
    return Run(
        id=ident,
        name=name,
        namespace=namespace,
        user=user,
        status=RunStatus(status),
        start_time=from_micros(int(start)),
        end_time=_time(end),
        heartbeat_at=_time(beat),
        params=params,
        tags=tags,
        metrics=metrics,
        flow_name=flow,
        flow_spec=_document(spec),
        code_version=rows.code_version_from(code_version),
        origin_run_id=origin,
        error=error,
    )


def finish_run(
    conn: sqlite3.Connection, run_id: str, status: RunStatus, end_time: datetime, error: str | None
) -> None:
    status = RunStatus(status)
    if not status.finished:
        raise InvalidInputError(
            f"finish_run needs a terminal status ({', '.join(s.value for s in RunStatus if s.finished)}), "
            f"got {status.value!r}"
        )
    cur = conn.execute(
        "UPDATE runs SET status = ?, end_time = ?, error = ? WHERE id = ? AND status = ?",
        (status.value, _micros(end_time), error, run_id, RunStatus.RUNNING.value),
    )
    if cur.rowcount == 0:
        require_run(conn, run_id)


def heartbeat_run(conn: sqlite3.Connection, run_id: str) -> None:
    cur = conn.execute(
        f"UPDATE runs SET heartbeat_at = {NOW_US} WHERE id = ? AND status = ?",
        (run_id, RunStatus.RUNNING.value),
    )
    if cur.rowcount == 0:
        require_run(conn, run_id)


def fail_stale_runs(conn: sqlite3.Connection, timeout_s: float) -> list[str]:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise InvalidInputError(f"timeout_s must be a number of seconds above 0, got {timeout_s!r}")
    message = (
        f"no heartbeat for {timeout_s:g}s (by the metadata store's clock): the process running it stopped"
    )
    stale = conn.execute(
        f"UPDATE runs SET status = ?, end_time = {NOW_US}, error = ? "
        f"WHERE status = ? AND coalesce(heartbeat_at, start_time) < {NOW_US} - ? "
        "AND NOT EXISTS (SELECT 1 FROM tags WHERE tags.run_id = runs.id AND tags.key = ?) "
        "RETURNING id, end_time",
        (RunStatus.FAILED.value, message, RunStatus.RUNNING.value, round(timeout_s * 1e6), ORCHESTRATOR_TAG),
    ).fetchall()
    if not stale:
        return []
    ids = sorted(str(r[0]) for r in stale)
    now = int(stale[0][1])
    unfinished = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)
    for chunk in _chunks(ids):
        task_ids = [
            str(r[0])
            for r in conn.execute(
                f"SELECT id FROM tasks WHERE run_id IN ({_marks(len(chunk))}) AND status IN (?, ?)",
                (*chunk, *unfinished),
            )
        ]
        for part in _chunks(task_ids):
            conn.execute(
                f"UPDATE tasks SET status = ?, ended_at = ?, error = ? WHERE id IN ({_marks(len(part))})",
                (TaskStatus.FAILED.value, now, f"run failed: {message}", *part),
            )
            archive_artifacts(conn, part)
            conn.execute(
                "UPDATE task_attempts SET status = ?, ended_at = ?, error = ? "
                f"WHERE task_id IN ({_marks(len(part))}) AND status = ?",
                (TaskStatus.FAILED.value, now, f"run failed: {message}", *part, TaskStatus.RUNNING.value),
            )
    return ids


# ---- tasks --------------------------------------------------------------------------------------
def _task(row: Sequence[Any]) -> Task:
    values = dict(zip(rows.TASK_FIELDS, row, strict=True))
    for name in ("started_at", "ended_at", "heartbeat_at"):
        values[name] = _time(values[name])
    values["status"] = TaskStatus(values["status"])
    values["spec"] = _document(values["spec"]) or {}
    return Task(**values)


def create_tasks(conn: sqlite3.Connection, new: Sequence[Task]) -> None:
    if not new:
        return
    rows.check_task_batch(new)
    for run_id in sorted({t.run_id for t in new}):
        require_run(conn, run_id)
        keys = [t.key for t in new if t.run_id == run_id]
        taken: list[str] = []
        for chunk in _chunks(keys):
            taken += [
                str(r[0])
                for r in conn.execute(
                    f'SELECT "key" FROM tasks WHERE run_id = ? AND "key" IN ({_marks(len(chunk))})',
                    (run_id, *chunk),
                )
            ]
        if taken:
            raise AlreadyExistsError(
                f"run {run_id!r} already has tasks with keys {sorted(taken)}; task keys are unique per run"
            )
    base = time.time_ns() // 1000 * 1000
    try:
        for i, task in enumerate(new):
            _insert(conn, "tasks", rows.task_row(task, base + i))
    except sqlite3.IntegrityError:
        raise AlreadyExistsError(
            "a task with one of these ids or (run, key) pairs already exists: "
            + ", ".join(f"{t.id} ({t.key})" for t in new[:5])
        ) from None


def get_task(conn: sqlite3.Connection, task_id: str) -> Task:
    row = conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"task {task_id!r} not found")
    return _task(row)


def list_tasks(conn: sqlite3.Connection, run_id: str, limit: int | None, offset: int) -> list[Task]:
    sql = f"SELECT {_TASK_COLUMNS} FROM tasks WHERE run_id = ? ORDER BY created_seq, id"
    args: tuple[Any, ...] = (run_id,)
    if limit is not None or offset:
        sql += " LIMIT ? OFFSET ?"
        args = (run_id, -1 if limit is None else limit, offset)
    found = conn.execute(sql, args).fetchall()
    if not found:
        require_run(conn, run_id)
    return [_task(r) for r in found]


_ATTEMPT_STATES = (TaskStatus.RUNNING, TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)


def update_task(conn: sqlite3.Connection, task_id: str, changes: Mapping[str, Any]) -> Task:
    """As :func:`shipyard.metadata.sql.tasks.update_task` (the attempt history included)."""
    values = {k: v for k, v in changes.items() if v is not None}
    status = TaskStatus(values["status"]) if "status" in values else None
    if status is not None:
        values["status"] = status.value
    if status is TaskStatus.RUNNING:
        values.setdefault("error", None)
        values.setdefault("ended_at", None)
    if values:
        names = list(values)
        assignments = ", ".join(f'"{n}" = ?' for n in names)
        cur = conn.execute(
            f"UPDATE tasks SET {assignments} WHERE id = ?",
            [*(_bind(n, values[n]) for n in names), task_id],
        )
        if cur.rowcount == 0:
            raise NotFoundError(f"task {task_id!r} not found")
    task = get_task(conn, task_id)
    if status in _ATTEMPT_STATES and task.attempts > 0:
        assert status is not None
        if status is TaskStatus.RUNNING:
            if task.attempts > 1:
                archive_artifacts(conn, [task_id], before=task.attempts)
        elif status is not TaskStatus.SUCCEEDED:
            archive_artifacts(conn, [task_id])
        _record_attempt(conn, task_id, task.attempts, status, values)
    return task


def _record_attempt(
    conn: sqlite3.Connection, task_id: str, attempt: int, status: TaskStatus, values: Mapping[str, Any]
) -> None:
    """As :func:`shipyard.metadata.sql.attempts.record_attempt`: insert, or update a row that is
    still RUNNING (a finished attempt keeps its first outcome)."""
    row: dict[str, Any] = {
        "task_id": task_id,
        "attempt": attempt,
        "status": status.value,
        "started_at": values.get("started_at"),
        "ended_at": values.get("ended_at"),
        "error": values.get("error"),
        "node": values.get("node"),
    }
    changes = [k for k, v in row.items() if v is not None and k not in ("task_id", "attempt")]
    if status is TaskStatus.RUNNING:
        changes += [k for k in ("ended_at", "error") if k not in changes]
    update = ", ".join(f"{k} = excluded.{k}" for k in changes)
    _insert(
        conn,
        "task_attempts",
        row,
        f" ON CONFLICT (task_id, attempt) DO UPDATE SET {update} WHERE task_attempts.status = "
        f"'{TaskStatus.RUNNING.value}'",
    )


def archive_artifacts(conn: sqlite3.Connection, task_ids: Sequence[str], before: int | None = None) -> None:
    """As :func:`shipyard.metadata.sql.attempts.archive_artifacts`."""
    if not task_ids:
        return
    where = f"task_id IN ({_marks(len(task_ids))}) AND attempt IS NOT NULL"
    args: list[Any] = list(task_ids)
    if before is not None:
        where += " AND attempt < ?"
        args.append(before)
    conn.execute(
        f"INSERT INTO attempt_artifacts ({_ARTIFACT_COLUMNS}) SELECT {_ARTIFACT_COLUMNS} FROM artifacts "
        f"WHERE {where}",
        args,
    )
    conn.execute(f"DELETE FROM artifacts WHERE {where}", args)


# ---- artifacts and lineage -----------------------------------------------------------------------
_REWRITABLE = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)
_ENDED = (TaskStatus.FAILED.value, TaskStatus.CANCELLED.value)


def _artifact(row: Sequence[Any]) -> ArtifactRecord:
    m = dict(zip(_ARTIFACT_FIELDS, row, strict=True))
    return ArtifactRecord(
        id=m["id"],
        run_id=m["run_id"],
        name=m["name"],
        digest=m["digest"],
        size=m["size"],
        serializer=m["serializer"],
        created_at=from_micros(int(m["created_at"])),
        task_id=m["task_id"] or None,
        unsafe=bool(m["unsafe"]),
        meta=_document(m["meta"]) or {},
        attempt=m["attempt"],
    )


def _by_name(conn: sqlite3.Connection, run_id: str, task_id: str | None, name: str) -> ArtifactRecord | None:
    row = conn.execute(
        f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = ? AND task_id = ? AND name = ?",
        (run_id, task_id or "", name),
    ).fetchone()
    return None if row is None else _artifact(row)


def get_artifact(conn: sqlite3.Connection, artifact_id: str) -> ArtifactRecord:
    row = conn.execute(f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"artifact {artifact_id!r} not found")
    return _artifact(row)


def find_artifact(conn: sqlite3.Connection, run_id: str, name: str, task_id: str | None) -> ArtifactRecord:
    found = _by_name(conn, run_id, task_id, name)
    if found is None:
        require_run(conn, run_id)
        where = f"task {task_id!r} of run {run_id!r}" if task_id else f"run {run_id!r} (run-level)"
        raise NotFoundError(f"no artifact named {name!r} in {where}")
    return found


def record_artifact(conn: sqlite3.Connection, artifact: ArtifactRecord) -> ArtifactRecord:
    """As :func:`shipyard.metadata.sql.tasks.record_artifact`."""
    require_run(conn, artifact.run_id)
    may_rewrite = False
    if artifact.task_id is not None:
        owner = conn.execute(
            "SELECT run_id, status, attempts FROM tasks WHERE id = ?", (artifact.task_id,)
        ).fetchone()
        if owner is None:
            raise NotFoundError(f"task {artifact.task_id!r} not found")
        owner_run, owner_status, owner_attempts = owner
        if owner_run != artifact.run_id:
            raise InvalidInputError(
                f"task {artifact.task_id!r} belongs to run {owner_run!r}, not {artifact.run_id!r}"
            )
        artifact = replace(artifact, attempt=int(owner_attempts))
        may_rewrite = owner_status in _REWRITABLE
        if owner_status in _ENDED:
            _insert(conn, "attempt_artifacts", rows.artifact_row(artifact))
            return artifact
    else:
        artifact = replace(artifact, attempt=None)
    row = rows.artifact_row(artifact)
    existing = _by_name(conn, artifact.run_id, artifact.task_id, artifact.name)
    if existing is None:
        if _insert(conn, "artifacts", row, " ON CONFLICT DO NOTHING") == 1:
            return get_artifact(conn, artifact.id)
        existing = _by_name(conn, artifact.run_id, artifact.task_id, artifact.name)
        if existing is None:
            raise AlreadyExistsError(f"an artifact with id {artifact.id!r} already exists; use a new id")
    if existing.digest != artifact.digest and may_rewrite:
        names = [k for k in row if k not in ("id", "run_id", "task_id", "name")]
        conn.execute(
            f"UPDATE artifacts SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
            [*(_bind(n, row[n]) for n in names), existing.id],
        )
        return get_artifact(conn, existing.id)
    if existing.digest != artifact.digest:
        where = (
            f"task {artifact.task_id!r} of run {artifact.run_id!r}"
            if artifact.task_id
            else f"run {artifact.run_id!r}"
        )
        raise ConflictError(
            f"artifact {artifact.name!r} of {where} is already recorded with digest "
            f"{existing.digest[:12]}..., not {artifact.digest[:12]}...; "
            "artifact names are write-once, use another name"
        )
    return existing


def record_lineage(conn: sqlite3.Connection, edges: Sequence[LineageEdge]) -> None:
    unique = sorted({(e.task_id, e.artifact_id, e.input_name) for e in edges})
    if not unique:
        return
    task_ids = sorted({t for t, _, _ in unique})
    artifact_ids = sorted({a for _, a, _ in unique})
    found_tasks: set[str] = set()
    for chunk in _chunks(task_ids):
        found_tasks |= {
            str(r[0]) for r in conn.execute(f"SELECT id FROM tasks WHERE id IN ({_marks(len(chunk))})", chunk)
        }
    found_artifacts: set[str] = set()
    for chunk in _chunks(artifact_ids):
        found_artifacts |= {
            str(r[0])
            for r in conn.execute(f"SELECT id FROM artifacts WHERE id IN ({_marks(len(chunk))})", chunk)
        }
    if missing := [t for t in task_ids if t not in found_tasks]:
        raise NotFoundError(f"lineage refers to unknown task(s) {missing}")
    if missing_artifacts := [a for a in artifact_ids if a not in found_artifacts]:
        raise NotFoundError(f"lineage refers to unknown artifact(s) {missing_artifacts}")
    conn.executemany(
        "INSERT INTO lineage (task_id, artifact_id, input_name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        unique,
    )
