"""Tasks, artifact records and lineage edges."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Select, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.entities import ArtifactRecord, LineageEdge, Task, TaskStatus
from shipyard.core.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from shipyard.metadata.rows import check_task_batch
from shipyard.metadata.sql import attempts, codec
from shipyard.metadata.sql.dialect import insert_for
from shipyard.metadata.sql.runs import require_run
from shipyard.metadata.sql.schema import artifacts, attempt_artifacts, lineage, runs, tasks


# ---- tasks ----------------------------------------------------------------------------------
def create_tasks(conn: Connection, new: Sequence[Task]) -> None:
    if not new:
        return
    check_task_batch(new)
    for run_id in sorted({t.run_id for t in new}):
        require_run(conn, run_id)
        keys = [t.key for t in new if t.run_id == run_id]
        taken = (
            conn.execute(select(tasks.c.key).where(tasks.c.run_id == run_id, tasks.c.key.in_(keys)))
            .scalars()
            .all()
        )
        if taken:
            raise AlreadyExistsError(
                f"run {run_id!r} already has tasks with keys {sorted(taken)}; task keys are unique per run"
            )
    base = time.time_ns() // 1000 * 1000
    try:
        conn.execute(tasks.insert(), [codec.task_row(t, base + i) for i, t in enumerate(new)])
    except IntegrityError:
        raise AlreadyExistsError(
            "a task with one of these ids or (run, key) pairs already exists: "
            + ", ".join(f"{t.id} ({t.key})" for t in new[:5])
        ) from None


def get_task(conn: Connection, task_id: str) -> Task:
    row = conn.execute(select(tasks).where(tasks.c.id == task_id)).first()
    if row is None:
        raise NotFoundError(f"task {task_id!r} not found")
    return codec.task_from(row)


def _page(query: Select[Any], limit: int | None, offset: int) -> Select[Any]:
    return query.limit(limit).offset(offset) if limit is not None or offset else query


def list_tasks(conn: Connection, run_id: str, limit: int | None = None, offset: int = 0) -> list[Task]:
    query = select(tasks).where(tasks.c.run_id == run_id).order_by(tasks.c.created_seq, tasks.c.id)
    rows = conn.execute(_page(query, limit, offset)).all()
    if not rows:
        require_run(conn, run_id)
    return [codec.task_from(r) for r in rows]


def update_task(conn: Connection, task_id: str, changes: dict[str, Any]) -> Task:
    """Change the given fields. A status change also keeps the attempt history: RUNNING starts
    attempt ``attempts`` (earlier attempts' records leave the task's outputs, the previous error
    and end time are cleared); SUCCEEDED, FAILED and CANCELLED end it (a failed or cancelled
    attempt's records leave the task's outputs too)."""
    values = {k: v for k, v in changes.items() if v is not None}
    status = TaskStatus(values["status"]) if "status" in values else None
    if status is not None:
        values["status"] = status.value
    if status is TaskStatus.RUNNING:
        values.setdefault("error", None)
        values.setdefault("ended_at", None)
    if values:
        result = conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))
        if result.rowcount == 0:
            raise NotFoundError(f"task {task_id!r} not found")
    task = get_task(conn, task_id)
    if status in _ATTEMPT_STATES and task.attempts > 0:
        if status is TaskStatus.RUNNING:
            if task.attempts > 1:  # a first attempt has no earlier records to move
                attempts.archive_artifacts(conn, [task_id], before=task.attempts)
        elif status is not TaskStatus.SUCCEEDED:
            attempts.archive_artifacts(conn, [task_id])
        attempts.record_attempt(
            conn,
            task_id,
            task.attempts,
            status,
            values.get("started_at"),
            values.get("ended_at"),
            values.get("error"),
            values.get("node"),
        )
    return task


_ATTEMPT_STATES = (TaskStatus.RUNNING, TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)


def find_cached_task(conn: Connection, namespace: str, step: str, cache_key: str) -> Task | None:
    query = (
        select(tasks)
        .join(runs, runs.c.id == tasks.c.run_id)
        .where(
            tasks.c.cache_key == cache_key,
            tasks.c.step == step,
            tasks.c.status == TaskStatus.SUCCEEDED.value,
            runs.c.namespace == namespace,
        )
        .order_by(tasks.c.ended_at.is_(None), tasks.c.ended_at.desc(), tasks.c.created_seq.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else codec.task_from(row)


# ---- artifacts ------------------------------------------------------------------------------
_REWRITABLE = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)
_ENDED = (TaskStatus.FAILED.value, TaskStatus.CANCELLED.value)


def _by_name(conn: Connection, run_id: str, task_id: str | None, name: str) -> ArtifactRecord | None:
    row = conn.execute(
        select(artifacts).where(
            artifacts.c.run_id == run_id, artifacts.c.task_id == (task_id or ""), artifacts.c.name == name
        )
    ).first()
    return None if row is None else codec.artifact_from(row)


def record_artifact(conn: Connection, artifact: ArtifactRecord) -> ArtifactRecord:
    """Record a named output; a task's record carries the task's current attempt (the store's
    count, not the caller's). A task's outputs become write-once when it succeeds; until then
    (pending or running) an attempt may record the same name again. What arrives for a failed or
    cancelled task (a late write of its ended attempt) goes to that attempt's history only."""
    require_run(conn, artifact.run_id)
    may_rewrite = False
    if artifact.task_id is not None:
        owner = conn.execute(
            select(tasks.c.run_id, tasks.c.status, tasks.c.attempts).where(tasks.c.id == artifact.task_id)
        ).first()
        if owner is None:
            raise NotFoundError(f"task {artifact.task_id!r} not found")
        if owner.run_id != artifact.run_id:
            raise InvalidInputError(
                f"task {artifact.task_id!r} belongs to run {owner.run_id!r}, not {artifact.run_id!r}"
            )
        artifact = replace(artifact, attempt=int(owner.attempts))
        may_rewrite = owner.status in _REWRITABLE
        if owner.status in _ENDED:  # a late write of an attempt already failed: history only
            conn.execute(attempt_artifacts.insert(), codec.artifact_row(artifact))
            return artifact
    else:
        artifact = replace(artifact, attempt=None)
    row = codec.artifact_row(artifact)
    existing = _by_name(conn, artifact.run_id, artifact.task_id, artifact.name)
    if existing is None:
        result = conn.execute(insert_for(conn, artifacts).on_conflict_do_nothing(), row)
        if result.rowcount == 1:
            return get_artifact(conn, artifact.id)
        existing = _by_name(conn, artifact.run_id, artifact.task_id, artifact.name)
        if existing is None:
            raise AlreadyExistsError(f"an artifact with id {artifact.id!r} already exists; use a new id")
    if existing.digest != artifact.digest and may_rewrite:
        row = {k: v for k, v in row.items() if k not in ("id", "run_id", "task_id", "name")}
        conn.execute(update(artifacts).where(artifacts.c.id == existing.id).values(**row))
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


def get_artifact(conn: Connection, artifact_id: str) -> ArtifactRecord:
    row = conn.execute(select(artifacts).where(artifacts.c.id == artifact_id)).first()
    if row is None:
        raise NotFoundError(f"artifact {artifact_id!r} not found")
    return codec.artifact_from(row)


def list_artifacts(
    conn: Connection, run_id: str, task_id: str | None, limit: int | None = None, offset: int = 0
) -> list[ArtifactRecord]:
    query = select(artifacts).where(artifacts.c.run_id == run_id)
    if task_id is not None:
        query = query.where(artifacts.c.task_id == task_id)
    rows = conn.execute(_page(query.order_by(artifacts.c.created_at, artifacts.c.id), limit, offset)).all()
    if not rows:
        require_run(conn, run_id)
    return [codec.artifact_from(r) for r in rows]


def find_artifact(conn: Connection, run_id: str, name: str, task_id: str | None) -> ArtifactRecord:
    found = _by_name(conn, run_id, task_id, name)
    if found is None:
        require_run(conn, run_id)
        where = f"task {task_id!r} of run {run_id!r}" if task_id else f"run {run_id!r} (run-level)"
        raise NotFoundError(f"no artifact named {name!r} in {where}")
    return found


# ---- lineage --------------------------------------------------------------------------------
def record_lineage(conn: Connection, edges: Sequence[LineageEdge]) -> None:
    unique = sorted({(e.task_id, e.artifact_id, e.input_name) for e in edges})
    if not unique:
        return
    task_ids = sorted({t for t, _, _ in unique})
    artifact_ids = sorted({a for _, a, _ in unique})
    found_tasks = set(conn.execute(select(tasks.c.id).where(tasks.c.id.in_(task_ids))).scalars())
    found_artifacts = set(
        conn.execute(select(artifacts.c.id).where(artifacts.c.id.in_(artifact_ids))).scalars()
    )
    if missing := [t for t in task_ids if t not in found_tasks]:
        raise NotFoundError(f"lineage refers to unknown task(s) {missing}")
    if missing := [a for a in artifact_ids if a not in found_artifacts]:
        raise NotFoundError(f"lineage refers to unknown artifact(s) {missing}")
    rows = [{"task_id": t, "artifact_id": a, "input_name": n} for t, a, n in unique]
    conn.execute(insert_for(conn, lineage).on_conflict_do_nothing(), rows)


def task_inputs(
    conn: Connection, task_id: str, limit: int | None = None, offset: int = 0
) -> list[LineageEdge]:
    get_task(conn, task_id)
    query = (
        select(lineage)
        .where(lineage.c.task_id == task_id)
        .order_by(lineage.c.input_name, lineage.c.artifact_id)
    )
    rows = conn.execute(_page(query, limit, offset))
    return [LineageEdge(r.task_id, r.artifact_id, r.input_name) for r in rows]


def artifact_consumers(
    conn: Connection, artifact_id: str, limit: int | None = None, offset: int = 0
) -> list[LineageEdge]:
    get_artifact(conn, artifact_id)
    query = (
        select(lineage)
        .join(tasks, tasks.c.id == lineage.c.task_id)
        .where(lineage.c.artifact_id == artifact_id)
        .order_by(tasks.c.created_seq, lineage.c.task_id, lineage.c.input_name)
    )
    rows = conn.execute(_page(query, limit, offset))
    return [LineageEdge(r.task_id, r.artifact_id, r.input_name) for r in rows]
