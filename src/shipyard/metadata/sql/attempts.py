"""Task attempts: one ``task_attempts`` row per attempt, and the records of attempts that did not
succeed moved out of ``artifacts`` into ``attempt_artifacts``.

A task's outputs (``artifacts`` rows with its ``task_id``) are only ever those of its running or
succeeded attempt: starting attempt N moves what earlier attempts left, and a task that fails or
is cancelled has its records moved too, so neither downstream steps nor ``find_artifact`` see a
failed attempt's ``output``. The moved records keep their ids and attempt numbers and are listed
per attempt by :func:`list_task_attempts`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, select, update

from shipyard.core.entities import ArtifactRecord, TaskAttempt, TaskStatus
from shipyard.core.errors import NotFoundError
from shipyard.metadata.sql import codec
from shipyard.metadata.sql.dialect import insert_for
from shipyard.metadata.sql.schema import artifacts, attempt_artifacts, task_attempts, tasks

_MOVED = ("id", "run_id", "task_id", "attempt", "name", "digest", "size", "serializer", "created_at",
          "unsafe", "meta")  # fmt: skip


def archive_artifacts(conn: Connection, task_ids: Sequence[str], before: int | None = None) -> None:
    """Move the artifact records of these tasks (of attempts before ``before``; all of them when
    None) from the task's outputs into the attempt history."""
    if not task_ids:
        return
    where: list[ColumnElement[bool]] = [artifacts.c.task_id.in_(task_ids), artifacts.c.attempt.is_not(None)]
    if before is not None:
        where.append(artifacts.c.attempt < before)
    moved = select(*(artifacts.c[name] for name in _MOVED)).where(*where)
    conn.execute(attempt_artifacts.insert().from_select(list(_MOVED), moved))
    conn.execute(delete(artifacts).where(*where))


def record_attempt(  # noqa: PLR0917 (one attempt row's fields)
    conn: Connection,
    task_id: str,
    attempt: int,
    status: TaskStatus,
    started_at: datetime | None,
    ended_at: datetime | None,
    error: str | None,
    node: str | None,
) -> None:
    """Insert or update attempt ``attempt``'s row. A finished attempt keeps its first outcome: a
    later terminal status (e.g. CANCELLED after a failed attempt waiting for its retry) only
    lands on a row that is still RUNNING."""
    row: dict[str, Any] = {
        "task_id": task_id,
        "attempt": attempt,
        "status": status.value,
        "started_at": started_at,
        "ended_at": ended_at,
        "error": error,
        "node": node,
    }
    changes = {k: v for k, v in row.items() if v is not None and k not in ("task_id", "attempt")}
    if status is TaskStatus.RUNNING:
        changes.update(ended_at=None, error=None)
    stmt = insert_for(conn, task_attempts).values(**row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[task_attempts.c.task_id, task_attempts.c.attempt],
            set_={k: stmt.excluded[k] for k in changes},
            where=task_attempts.c.status == TaskStatus.RUNNING.value,
        )
    )


def fail_running_attempts(conn: Connection, task_ids: Sequence[str], ended_at: Any, error: str) -> None:
    """The running attempts of these tasks failed (their run was found stale)."""
    archive_artifacts(conn, task_ids)
    conn.execute(
        update(task_attempts)
        .where(task_attempts.c.task_id.in_(task_ids), task_attempts.c.status == TaskStatus.RUNNING.value)
        .values(status=TaskStatus.FAILED.value, ended_at=ended_at, error=error)
    )


def list_task_attempts(conn: Connection, task_id: str) -> list[TaskAttempt]:
    task = conn.execute(select(tasks.c.id).where(tasks.c.id == task_id)).first()
    if task is None:
        raise NotFoundError(f"task {task_id!r} not found")
    recorded: dict[int, list[ArtifactRecord]] = defaultdict(list)
    for table in (attempt_artifacts, artifacts):
        rows = conn.execute(
            select(table)
            .where(table.c.task_id == task_id, table.c.attempt.is_not(None))
            .order_by(table.c.created_at, table.c.id)
        )
        for row in rows:
            rec = codec.artifact_from(row)
            recorded[int(rec.attempt or 0)].append(rec)
    attempts = conn.execute(
        select(task_attempts).where(task_attempts.c.task_id == task_id).order_by(task_attempts.c.attempt)
    )
    return [
        TaskAttempt(
            task_id=r.task_id,
            attempt=r.attempt,
            status=TaskStatus(r.status),
            started_at=r.started_at,
            ended_at=r.ended_at,
            error=r.error,
            node=r.node,
            artifacts=recorded.get(r.attempt, []),
        )
        for r in attempts
    ]
