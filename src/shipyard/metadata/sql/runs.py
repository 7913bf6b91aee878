"""Run rows: create, load (batched), finish, heartbeat, stale-run expiry, delete.

Liveness uses the database's clock only (:func:`~.dialect.store_now`): a run is created with
``heartbeat_at`` = the database's now, every heartbeat writes the database's now, and a run is
stale when that is more than ``timeout_s`` behind the database's now. The clocks of the processes
that beat and of those that read never enter it.

The resume lease: a run created with ``origin_run_id`` holds its origin while it is RUNNING (the
partial unique index ``uq_runs_resuming_origin``); a second resume of the same origin is a
:class:`ConflictError` naming the holder. The lease ends when the holder finishes, or when it is
failed as stale (its process died).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Row, bindparam, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.branches import validate_namespace
from shipyard.core.entities import ORCHESTRATOR_TAG, Run, RunCreate, RunStatus, TaskStatus
from shipyard.core.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from shipyard.core.names import validate_name
from shipyard.metadata.rows import resume_conflict, tag_rows
from shipyard.metadata.sql import attempts, codec
from shipyard.metadata.sql.dialect import store_now
from shipyard.metadata.sql.schema import latest_metrics, params, runs, tags, tasks
from shipyard.metadata.sql.types import from_micros, to_micros

_IN_CHUNK = 500  # ids per IN (...) list


@functools.lru_cache(maxsize=8)
def _run_exists_sql(dialect: Dialect) -> tuple[str, bool]:
    """``SELECT id FROM runs WHERE id = ?`` in the dialect's SQL and whether its parameters are
    positional (compiled once: building and compiling the statement per call cost more than the
    lookup on every metric write)."""
    compiled = select(runs.c.id).where(runs.c.id == bindparam("run_id")).compile(dialect=dialect)
    return compiled.string, bool(compiled.positional)


def require_run(conn: Connection, run_id: str) -> None:
    sql, positional = _run_exists_sql(conn.dialect)
    found = conn.exec_driver_sql(sql, (run_id,) if positional else {"run_id": run_id}).first()
    if found is None:
        raise NotFoundError(f"run {run_id!r} not found")


def create_run(conn: Connection, run: RunCreate) -> Run:
    """Insert the run with its params and tags; returns it as ``get_run`` would (without re-reading)."""
    if not run.id or not isinstance(run.id, str) or len(run.id) > 64:
        raise InvalidInputError(f"run id {run.id!r} must be a non-empty string of at most 64 characters")
    row = {
        "id": run.id,
        "name": validate_name("run", run.name, new=True),
        "namespace": validate_namespace(run.namespace, new=True),
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
    new_tags = tag_rows(run.id, run.tags)
    if run.origin_run_id is not None:
        holder = resuming_run(conn, run.origin_run_id)
        if holder is not None:
            raise resume_conflict(run.origin_run_id, holder)
    row.pop("heartbeat_at")  # alive as of now on the database's clock, not the client's start_time
    try:
        beat = conn.execute(
            runs.insert().values(**row, heartbeat_at=store_now(conn)).returning(runs.c.heartbeat_at)
        ).scalar_one()
    except IntegrityError as exc:
        if run.origin_run_id is not None and "origin_run_id" in str(exc.orig):
            raise ResumeRace(run.origin_run_id) from None  # another resume won on Postgres
        raise AlreadyExistsError(f"a run with id {run.id!r} already exists; use a new id") from None
    if param_rows:
        conn.execute(params.insert(), param_rows)
    if new_tags:
        conn.execute(tags.insert(), new_tags)
    return Run(
        id=run.id,
        name=run.name,
        namespace=run.namespace,
        user=run.user,
        status=RunStatus.RUNNING,
        start_time=from_micros(to_micros(run.start_time)),  # as stored: UTC, microseconds
        end_time=None,
        heartbeat_at=beat,
        params={r["key"]: codec.param_value(r["value"]) for r in param_rows},
        tags={r["key"]: r["value"] for r in new_tags},
        metrics={},
        flow_name=run.flow_name,
        flow_spec=codec.json_round_trip(run.flow_spec),
        code_version=codec.code_version_from(codec.code_version_json(run.code_version)),
        origin_run_id=run.origin_run_id,
    )


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK)]


_RUN_FIELDS = (
    "id",
    "name",
    "namespace",
    "user",
    "status",
    "start_time",
    "end_time",
    "heartbeat_at",
    "flow_name",
    "flow_spec",
    "code_version",
    "origin_run_id",
    "error",
)


@functools.cache
def _values_queries() -> tuple[Any, Any, Any]:
    """(run_id, key, value) of params, tags and latest metrics for a list of run ids, built once
    with an expanding parameter (the ids are bound at execution, not coerced one by one)."""
    ids: Any = bindparam("ids", expanding=True)
    return tuple(  # type: ignore[return-value]
        select(table.c.run_id, table.c.key, table.c.value).where(table.c.run_id.in_(ids))
        for table in (params, tags, latest_metrics)
    )


def load_runs(conn: Connection, rows: Sequence[Row[Any]]) -> list[Run]:
    """Runs for these ``runs`` rows, with params, tags and latest metrics: three batched queries.
    Rows are read by position (``Row`` attribute access costs more than the rest of a big page)."""
    if not rows:
        return []
    fields = rows[0]._fields
    fields_of = operator.itemgetter(*(fields.index(name) for name in _RUN_FIELDS))
    ids = [r[fields.index("id")] for r in rows]
    p: dict[str, dict[str, Any]] = {i: {} for i in ids}
    t: dict[str, dict[str, str]] = {i: {} for i in ids}
    m: dict[str, dict[str, float]] = {i: {} for i in ids}
    by_param, by_tag, by_metric = _values_queries()
    for chunk in _chunks(ids):
        for run_id, key, value in conn.execute(by_param, {"ids": chunk}).all():
            p[run_id][key] = codec.param_value(value)
        for run_id, key, value in conn.execute(by_tag, {"ids": chunk}).all():
            t[run_id][key] = value
        for run_id, key, value in conn.execute(by_metric, {"ids": chunk}).all():
            m[run_id][key] = codec.metric_value(value)
    statuses = {s.value: s for s in RunStatus}
    return [
        Run(
            id=run_id,
            name=name,
            namespace=namespace,
            user=user,
            status=statuses.get(status) or RunStatus(status),
            start_time=start_time,
            end_time=end_time,
            heartbeat_at=heartbeat_at,
            params=p[run_id],
            tags=t[run_id],
            metrics=m[run_id],
            flow_name=flow_name,
            flow_spec=flow_spec,
            code_version=codec.code_version_from(code_version),
            origin_run_id=origin_run_id,
            error=error,
        )
        for (
            run_id,
            name,
            namespace,
            user,
            status,
            start_time,
            end_time,
            heartbeat_at,
            flow_name,
            flow_spec,
            code_version,
            origin_run_id,
            error,
        ) in map(fields_of, rows)
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


class ResumeRace(ConflictError):
    """Another resume of the origin committed between the check and the insert (Postgres); the
    store reads the holder in a new transaction and raises :func:`resume_conflict`."""

    def __init__(self, origin_run_id: str) -> None:
        super().__init__(f"run {origin_run_id} is already being resumed by another run")
        self.origin_run_id = origin_run_id


def resuming_run(conn: Connection, origin_run_id: str) -> str | None:
    """The RUNNING run that holds the resume lease of ``origin_run_id``, if any."""
    query = select(runs.c.id).where(
        runs.c.origin_run_id == origin_run_id, runs.c.status == RunStatus.RUNNING.value
    )
    return conn.execute(query.limit(1)).scalar()


def heartbeat_run(conn: Connection, run_id: str) -> None:
    result = conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value)
        .values(heartbeat_at=store_now(conn))
    )
    if result.rowcount == 0:
        require_run(conn, run_id)  # a finished run ignores late heartbeats


def fail_stale_runs(conn: Connection, timeout_s: float) -> list[str]:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise InvalidInputError(f"timeout_s must be a number of seconds above 0, got {timeout_s!r}")
    now = store_now(conn)
    last_seen = func.coalesce(runs.c.heartbeat_at, runs.c.start_time)
    message = (
        f"no heartbeat for {timeout_s:g}s (by the metadata store's clock): the process running it stopped"
    )
    # an orchestrator (Argo, Airflow) owns the liveness of the runs it drives: no process beats them
    orchestrated = select(tags.c.run_id).where(tags.c.run_id == runs.c.id, tags.c.key == ORCHESTRATOR_TAG)
    stale = conn.execute(
        update(runs)
        .where(
            runs.c.status == RunStatus.RUNNING.value,
            last_seen < now - literal(round(timeout_s * 1e6)),
            ~orchestrated.exists(),
        )
        .values(status=RunStatus.FAILED.value, end_time=now, error=message)
        .returning(runs.c.id)
    )
    ids = sorted(stale.scalars())
    unfinished = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)
    for chunk in _chunks(ids):
        task_ids = list(
            conn.execute(
                select(tasks.c.id).where(tasks.c.run_id.in_(chunk), tasks.c.status.in_(unfinished))
            ).scalars()
        )
        for part in _chunks(task_ids):
            conn.execute(
                update(tasks)
                .where(tasks.c.id.in_(part))
                .values(status=TaskStatus.FAILED.value, ended_at=now, error=f"run failed: {message}")
            )
            attempts.fail_running_attempts(conn, part, now, f"run failed: {message}")
    return ids


def delete_run(conn: Connection, run_id: str) -> None:
    result = conn.execute(delete(runs).where(runs.c.id == run_id))  # rows under it cascade
    if result.rowcount == 0:
        raise NotFoundError(f"run {run_id!r} not found")
