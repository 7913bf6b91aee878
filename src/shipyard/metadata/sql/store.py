"""``SqlMetadataStore``: the :class:`MetadataStore` for SQLite and Postgres.

Each method is one short transaction. Writes on SQLite start with ``BEGIN IMMEDIATE`` (see
:mod:`.engine`), so threads and processes sharing one database file queue instead of deadlocking.
The engine is created in the constructor and released by :meth:`close`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from shipyard.core.entities import (
    ArtifactRecord,
    LineageEdge,
    Metric,
    Run,
    RunCreate,
    RunStatus,
    Task,
    TaskAttempt,
    TaskStatus,
)
from shipyard.core.errors import ConfigurationError, ConflictError, ShipyardError, StorageError
from shipyard.metadata.base import (
    METRIC_PAGE_DEFAULT,
    MetadataStore,
    MetricChunksPage,
    MetricColumnsPage,
    MetricPage,
    RunPage,
    StatusSummary,
    TaskTiming,
    check_page,
)
from shipyard.metadata.rows import resume_conflict
from shipyard.metadata.sql import attempts, metric_chunks, migrate, references, runs, search, values
from shipyard.metadata.sql import status as status_ops
from shipyard.metadata.sql import tasks as task_ops
from shipyard.metadata.sql.engine import (
    DEFAULT_TIMEOUT_S,
    WRITE,
    create_store_engine,
    display_url,
    is_memory,
    normalize_url,
)
from shipyard.metadata.sql.values import log_metric_columns as _log_metric_columns


def _first_line(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__


class SqlMetadataStore(MetadataStore):
    """Metadata in SQLite (``sqlite:///path.db``) or Postgres (``postgresql://user@host/db``).

    Opening the store creates the database file's folder (SQLite) and applies pending migrations.
    Raises :class:`ConfigurationError` when the database cannot be reached and
    :class:`~shipyard.core.errors.SchemaVersionError` when it was written by a newer shipyard.
    """

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._url = normalize_url(url)
        self.display_url = display_url(self._url)
        self._engine = create_store_engine(self._url, timeout_s)
        # an in-memory SQLite database is one shared connection: serialize access to it
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if is_memory(self._url) else contextlib.nullcontext()
        )
        self._closed = False
        try:
            migrate.ensure_schema(self._engine, self.display_url)
        except DBAPIError as exc:
            self._engine.dispose()
            hint = (
                "check that the file's folder is writable and that no other program holds it locked"
                if self._url.get_backend_name() == "sqlite"
                else "check that the server is running and the host, port, database name, user and "
                "password are right"
            )
            raise ConfigurationError(
                f"cannot open the metadata database at {self.display_url}: {_first_line(exc)}; {hint}"
            ) from None
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for instrumentation such as the server's query metrics; run
        statements through the store's methods)."""
        return self._engine

    @property
    def url(self) -> str:
        """The database URL (password hidden)."""
        return self.display_url

    def __repr__(self) -> str:
        return f"SqlMetadataStore({self.display_url!r})"

    # ---- transactions ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _tx(self, write: bool) -> Iterator[Connection]:
        if self._closed:
            raise StorageError(f"the metadata store for {self.display_url} is closed")
        try:
            with self._lock, self._engine.connect() as raw:
                conn = raw.execution_options(**WRITE) if write else raw
                with conn.begin():
                    yield conn
        except ShipyardError:
            raise
        except IntegrityError as exc:
            raise ConflictError(f"the change contradicts stored data: {_first_line(exc)}") from None
        except DBAPIError as exc:
            raise StorageError(f"metadata database error at {self.display_url}: {_first_line(exc)}") from exc
        except (PoolTimeoutError, DisconnectionError) as exc:  # every pooled connection busy or stuck
            raise StorageError(
                f"the metadata database at {self.display_url} is not answering in time: {_first_line(exc)}"
            ) from exc

    def _read(self) -> contextlib.AbstractContextManager[Connection]:
        return self._tx(write=False)

    def _write(self) -> contextlib.AbstractContextManager[Connection]:
        return self._tx(write=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    # ---- runs --------------------------------------------------------------------------------------
    def create_run(self, run: RunCreate) -> Run:
        try:
            with self._write() as conn:
                return runs.create_run(conn, run)
        except runs.ResumeRace as race:
            with self._read() as conn:
                raise resume_conflict(
                    race.origin_run_id, runs.resuming_run(conn, race.origin_run_id)
                ) from None

    def get_run(self, run_id: str) -> Run:
        with self._read() as conn:
            return runs.get_run(conn, run_id)

    def find_run_ids(self, prefix: str, limit: int = 2) -> list[str]:
        with self._read() as conn:
            return runs.find_run_ids(conn, prefix, limit)

    def finish_run(self, run_id: str, status: RunStatus, end_time: datetime, error: str | None = None) -> Run:
        with self._write() as conn:
            runs.finish_run(conn, run_id, status, end_time, error)
            return runs.get_run(conn, run_id)

    def heartbeat_run(self, run_id: str) -> None:
        with self._write() as conn:
            runs.heartbeat_run(conn, run_id)

    def fail_stale_runs(self, timeout_s: float) -> list[str]:
        with self._write() as conn:
            return runs.fail_stale_runs(conn, timeout_s)

    def search_runs(  # noqa: PLR0917 (the interface's signature)
        self,
        namespaces: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 100,
        offset: int = 0,
        flow_name: str | None = None,
        statuses: Sequence[RunStatus] | None = None,
        *,
        hidden_projects: Sequence[str] = (),
    ) -> RunPage:
        conds = search.conditions(namespaces, filter, flow_name, statuses, hidden_projects)
        with self._read() as conn:
            return search.search_runs(conn, conds, order_by, max_results, offset)

    def count_runs(
        self,
        namespaces: Sequence[str] | None = None,
        filter: str | None = None,
        flow_name: str | None = None,
        statuses: Sequence[RunStatus] | None = None,
        *,
        hidden_projects: Sequence[str] = (),
    ) -> int:
        conds = search.conditions(namespaces, filter, flow_name, statuses, hidden_projects)
        with self._read() as conn:
            return search.count_runs(conn, conds)

    def status_summary(self, *, hidden_projects: Sequence[str] = ()) -> StatusSummary:
        with self._read() as conn:
            return status_ops.status_summary(conn, hidden_projects)

    def task_timing(self, task_id: str) -> TaskTiming | None:
        with self._read() as conn:
            return status_ops.task_timing(conn, task_id)

    def referenced_digests(self) -> set[str]:
        with self._read() as conn:
            return references.referenced_digests(conn)

    def delete_run(self, run_id: str) -> None:
        with self._write() as conn:
            runs.delete_run(conn, run_id)

    # ---- params, metrics, tags -----------------------------------------------------------------
    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        with self._write() as conn:
            values.log_params(conn, run_id, params)

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        with self._write() as conn:
            values.log_metrics(conn, run_id, metrics)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        with self._read() as conn:
            return values.get_metric_history(conn, run_id, key)

    def get_metric_history_page(
        self, run_id: str, key: str, *, limit: int = METRIC_PAGE_DEFAULT, page_token: str | None = None
    ) -> MetricPage:
        with self._read() as conn:
            return values.get_metric_history_page(conn, run_id, key, limit, page_token)

    def log_metric_columns(
        self,
        run_id: str,
        keys: Sequence[str],
        values: Sequence[float],
        steps: Sequence[int],
        timestamps: Sequence[int],
    ) -> None:
        with self._write() as conn:
            _log_metric_columns(conn, run_id, list(keys), list(values), list(steps), list(timestamps))

    def get_metric_columns_page(
        self, run_id: str, key: str, *, limit: int = METRIC_PAGE_DEFAULT, page_token: str | None = None
    ) -> MetricColumnsPage:
        with self._read() as conn:
            page = MetricColumnsPage(*metric_chunks.read_columns(conn, run_id, key, limit, page_token))
            if not page.values:  # points prove the run exists: one query less per page
                runs.require_run(conn, run_id)
            return page

    def get_run_metric_chunks(self, run_id: str, *, page_token: str | None = None) -> MetricChunksPage:
        with self._read() as conn:
            page = metric_chunks.read_run_chunks(conn, run_id, page_token)
            if not page.chunks:  # chunks prove the run exists: one query less per page
                runs.require_run(conn, run_id)
            return page

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        with self._write() as conn:
            values.set_tags(conn, run_id, tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as conn:
            values.delete_tag(conn, run_id, key)

    # ---- artifacts ---------------------------------------------------------------------------------
    def record_artifact(self, artifact: ArtifactRecord) -> ArtifactRecord:
        with self._write() as conn:
            return task_ops.record_artifact(conn, artifact)

    def list_artifacts(
        self, run_id: str, task_id: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[ArtifactRecord]:
        check_page(limit, offset)
        with self._read() as conn:
            return task_ops.list_artifacts(conn, run_id, task_id, limit, offset)

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        with self._read() as conn:
            return task_ops.get_artifact(conn, artifact_id)

    def find_artifact(self, run_id: str, name: str, task_id: str | None = None) -> ArtifactRecord:
        with self._read() as conn:
            return task_ops.find_artifact(conn, run_id, name, task_id)

    # ---- tasks and lineage ---------------------------------------------------------------------
    def create_tasks(self, tasks: Sequence[Task]) -> None:
        with self._write() as conn:
            task_ops.create_tasks(conn, tasks)

    def get_task(self, task_id: str) -> Task:
        with self._read() as conn:
            return task_ops.get_task(conn, task_id)

    def list_tasks(self, run_id: str, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        check_page(limit, offset)
        with self._read() as conn:
            return task_ops.list_tasks(conn, run_id, limit, offset)

    def update_task(
        self,
        task_id: str,
        *,
        status: TaskStatus | None = None,
        attempts: int | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        heartbeat_at: datetime | None = None,
        error: str | None = None,
        reused_from: str | None = None,
        node: str | None = None,
        cache_key: str | None = None,
    ) -> Task:
        changes = {
            "status": status,
            "attempts": attempts,
            "started_at": started_at,
            "ended_at": ended_at,
            "heartbeat_at": heartbeat_at,
            "error": error,
            "reused_from": reused_from,
            "node": node,
            "cache_key": cache_key,
        }
        with self._write() as conn:
            return task_ops.update_task(conn, task_id, changes)

    def list_task_attempts(self, task_id: str) -> list[TaskAttempt]:
        with self._read() as conn:
            return attempts.list_task_attempts(conn, task_id)

    def record_lineage(self, edges: Sequence[LineageEdge]) -> None:
        with self._write() as conn:
            task_ops.record_lineage(conn, edges)

    def task_inputs(self, task_id: str, *, limit: int | None = None, offset: int = 0) -> list[LineageEdge]:
        check_page(limit, offset)
        with self._read() as conn:
            return task_ops.task_inputs(conn, task_id, limit, offset)

    def artifact_consumers(
        self, artifact_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[LineageEdge]:
        check_page(limit, offset)
        with self._read() as conn:
            return task_ops.artifact_consumers(conn, artifact_id, limit, offset)

    def find_cached_task(self, namespace: str, step: str, cache_key: str) -> Task | None:
        with self._read() as conn:
            return task_ops.find_cached_task(conn, namespace, step, cache_key)


class BorrowedTransactions:
    """Base of the stores that live in the same database as a :class:`SqlMetadataStore` (registry,
    security, monitoring records): they use its engine, pool and transactions (``BEGIN IMMEDIATE``
    for writes on SQLite)."""

    def __init__(self, metadata: SqlMetadataStore) -> None:
        self._metadata = metadata

    def _read(self) -> contextlib.AbstractContextManager[Connection]:
        return self._metadata._tx(write=False)

    def _write(self) -> contextlib.AbstractContextManager[Connection]:
        return self._metadata._tx(write=True)
