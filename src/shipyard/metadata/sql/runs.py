"""Run rows: create, load (batched), finish, heartbeat, stale-run expiry, delete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.clock import utcnow
from shipyard.core.entities import Run, RunCreate, RunStatus, TaskStatus
from shipyard.core.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from shipyard.core.names import validate_key, validate_name
from shipyard.metadata.sql import codec
from shipyard.metadata.sql.schema import latest_metrics, params, runs, tags, tasks
from shipyard.metadata.sql.types import from_micros, to_micros

_IN_CHUNK = 500  # ids per IN (...) list


def require_run(conn: Connection, run_id: str) -> None:
    if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
        raise NotFoundError(f"run {run_id!r} not found")


def create_run(conn: Connection, run: RunCreate) -> Run:
    """Insert the run with its params and tags; returns it as ``get_run`` would (without re-reading)."""
    if not run.id or not isinstance(run.id, str) or len(run.id) > 64:
        raise InvalidInputError(f"run id {run.id!r} must be a non-empty string of at most 64 characters")
    row = {
        "id": run.id,
        "name": validate_name("run", run.name, new=True),
        "namespace": validate_name("namespace", run.namespace, new=True),
        "user": run.user,
        "status": RunStatus.RUNNING.value,
        "start_time": run.start_time,
        "end_time": None,
        "heartbeat_at": None,
        "flow_name": run.flow_name,
        "flow_spec": run.flow_spec,
        "code_version": codec.code_version_json(run.code_version),
        "origin_run_id": run.origin_run_id,
        "error": None,
    }
    param_rows = [codec.param_row(run.id, k, v) for k, v in run.params.items()]
    tag_rows = [
        {"run_id": run.id, "key": validate_key("tag", k), "value": str(v)} for k, v in run.tags.items()
    ]
    try:
        conn.execute(runs.insert(), row)
    except IntegrityError:
        raise AlreadyExistsError(f"a run with id {run.id!r} already exists; use a new id") from None
    if param_rows:
        conn.execute(params.insert(), param_rows)
    if tag_rows:
        conn.execute(tags.insert(), tag_rows)
    return Run(
        id=run.id,
        name=run.name,
        namespace=run.namespace,
        user=run.user,
        status=RunStatus.RUNNING,
        start_time=from_micros(to_micros(run.start_time)),  # as stored: UTC, microseconds
        end_time=None,
        heartbeat_at=None,
        params={r["key"]: codec.param_value(r["value"]) for r in param_rows},
        tags={r["key"]: r["value"] for r in tag_rows},
        metrics={},
        flow_name=run.flow_name,
        flow_spec=codec.json_round_trip(run.flow_spec),
        code_version=codec.code_version_from(codec.code_version_json(run.code_version)),
        origin_run_id=run.origin_run_id,
    )


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK)]


def load_runs(conn: Connection, rows: Sequence[Row[Any]]) -> list[Run]:
    """Runs for these ``runs`` rows, with params, tags and latest metrics: three batched queries."""
    ids = [r.id for r in rows]
    p: dict[str, dict[str, Any]] = {i: {} for i in ids}
    t: dict[str, dict[str, str]] = {i: {} for i in ids}
    m: dict[str, dict[str, float]] = {i: {} for i in ids}
    for chunk in _chunks(ids):
        for run_id, key, value in conn.execute(
            select(params.c.run_id, params.c.key, params.c.value).where(params.c.run_id.in_(chunk))
        ):
            p[run_id][key] = codec.param_value(value)
        for run_id, key, value in conn.execute(
            select(tags.c.run_id, tags.c.key, tags.c.value).where(tags.c.run_id.in_(chunk))
        ):
            t[run_id][key] = value
        for run_id, key, value in conn.execute(
            select(latest_metrics.c.run_id, latest_metrics.c.key, latest_metrics.c.value).where(
                latest_metrics.c.run_id.in_(chunk)
            )
        ):
            m[run_id][key] = codec.metric_value(value)
    return [
        Run(
            id=r.id,
            name=r.name,
            namespace=r.namespace,
            user=r.user,
            status=RunStatus(r.status),
            start_time=r.start_time,
            end_time=r.end_time,
            heartbeat_at=r.heartbeat_at,
            params=p[r.id],
            tags=t[r.id],
            metrics=m[r.id],
            flow_name=r.flow_name,
            flow_spec=r.flow_spec,
            code_version=codec.code_version_from(r.code_version),
            origin_run_id=r.origin_run_id,
            error=r.error,
        )
        for r in rows
    ]


def get_run(conn: Connection, run_id: str) -> Run:
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"run {run_id!r} not found")
    return load_runs(conn, [row])[0]


def find_run_ids(conn: Connection, prefix: str, limit: int) -> list[str]:
    if not prefix:
        raise InvalidInputError("a run id prefix must not be empty")
    query = (
        select(runs.c.id)
        .where(runs.c.id.startswith(prefix, autoescape=True))
        .order_by(runs.c.id)
        .limit(max(1, limit))
    )
    return list(conn.execute(query).scalars())


def finish_run(
    conn: Connection, run_id: str, status: RunStatus, end_time: datetime, error: str | None
) -> None:
    status = RunStatus(status)
    if not status.finished:
        raise InvalidInputError(
            f"finish_run needs a terminal status ({', '.join(s.value for s in RunStatus if s.finished)}), "
            f"got {status.value!r}"
        )
    result = conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value)
        .values(status=status.value, end_time=end_time, error=error)
    )
    if result.rowcount == 0:
        require_run(conn, run_id)  # else: already finished, the first outcome stays


def heartbeat_run(conn: Connection, run_id: str, at: datetime) -> None:
    result = conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value)
        .values(heartbeat_at=at)
    )
    if result.rowcount == 0:
        require_run(conn, run_id)  # a finished run ignores late heartbeats


def fail_stale_runs(conn: Connection, older_than: datetime) -> list[str]:
    now = utcnow()
    last_seen = func.coalesce(runs.c.heartbeat_at, runs.c.start_time)
    message = f"no heartbeat since before {older_than.isoformat()}: the process running it stopped"
    stale = conn.execute(
        update(runs)
        .where(runs.c.status == RunStatus.RUNNING.value, last_seen < older_than)
        .values(status=RunStatus.FAILED.value, end_time=now, error=message)
        .returning(runs.c.id)
    )
    ids = sorted(stale.scalars())
    unfinished = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)
    for chunk in _chunks(ids):
        conn.execute(
            update(tasks)
            .where(tasks.c.run_id.in_(chunk), tasks.c.status.in_(unfinished))
            .values(status=TaskStatus.FAILED.value, ended_at=now, error=f"run failed: {message}")
        )
    return ids


def delete_run(conn: Connection, run_id: str) -> None:
    result = conn.execute(delete(runs).where(runs.c.id == run_id))  # rows under it cascade
    if result.rowcount == 0:
        raise NotFoundError(f"run {run_id!r} not found")
