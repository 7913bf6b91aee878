"""``SqliteRunStore``: the embedded SQLite metadata store for the flow-run path, on ``sqlite3``.

Importing SQLAlchemy costs about 0.3 s of every ``shipyard run`` (and again in its worker
process). A local run only creates its run, tasks, artifact records and lineage and updates their
status; :class:`SqliteRunStore` does those with the standard library's ``sqlite3``
(:mod:`shipyard.metadata.sqlite_ops`, the same statements and rules as the SQL store) and hands
every other method to a :class:`~shipyard.metadata.sql.store.SqlMetadataStore` on the same file,
opened on first use (:meth:`full`). Both use the file the same way (WAL, ``BEGIN IMMEDIATE`` for
writes, foreign keys on, a 30 s busy timeout), so they can be mixed freely.

It is only used for a file it can trust: :meth:`SqliteRunStore.open` returns None (use the SQL
store, which creates or migrates the database) when the file is missing or its schema is not at
this code's head revisions. Stores that live beside the metadata (branches, secrets, security,
schedules...) get the SQL store through :meth:`MetadataStore.backing_store`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from shipyard.core.errors import ConflictError, ShipyardError, StorageError
from shipyard.metadata import sqlite_ops as ops
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
from shipyard.metadata.schema_heads import VERSION_TABLE, declared_heads

if TYPE_CHECKING:
    from shipyard.metadata.sql.store import SqlMetadataStore

BUSY_TIMEOUT_MS = 30_000  # as shipyard.metadata.sql.engine.SQLITE_BUSY_TIMEOUT_MS


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def sqlite_file(uri: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URI with no query (None for anything else: memory, a
    driver name, options)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or "?" in uri:
        return None
    path = uri[len(prefix) :]
    if not path or path == ":memory:":
        return None
    return Path(path).expanduser()


class SqliteRunStore(MetadataStore):
    """Metadata in an embedded SQLite file: the run path on ``sqlite3``, the rest on the SQL store."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self._path = path
        self._conn = conn
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._full: SqlMetadataStore | None = None
        self._closed = False
        self.display_url = f"sqlite+pysqlite:///{path}"

    @classmethod
    def open(cls, uri: str) -> SqliteRunStore | None:
        """The store of the SQLite file ``uri`` names, or None when the SQL store must open it
        (not a plain file URI, no such file, not at this code's schema head, unreadable)."""
        path = sqlite_file(uri)
        if path is None or not path.is_file():
            return None
        conn = _connect(path)
        if conn is None:
            return None
        return cls(path, conn)

    @property
    def url(self) -> str:
        return self.display_url

    def __repr__(self) -> str:
        return f"SqliteRunStore({self.display_url!r})"

    def full(self) -> SqlMetadataStore:
        """The SQL store on the same file (opened on first use; closed with this store)."""
        if self._closed:
            raise StorageError(f"the metadata store for {self.display_url} is closed")
        with self._lock:
            if self._full is None:
                from shipyard.metadata.sql.store import SqlMetadataStore

                self._full = SqlMetadataStore(f"sqlite:///{self._path}")
            return self._full

    def backing_store(self) -> MetadataStore:
        return self.full()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pid == os.getpid():
            self._conn.close()
        if self._full is not None:
            self._full.close()

    # ---- transactions ----------------------------------------------------------------------------
    @contextmanager
    def _tx(self, write: bool) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise StorageError(f"the metadata store for {self.display_url} is closed")
        with self._lock:
            if self._pid != os.getpid():  # a forked child never shares its parent's connection
                conn = _connect(self._path)
                if conn is None:
                    raise StorageError(f"cannot open the metadata database at {self.display_url}")
                self._conn, self._pid = conn, os.getpid()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except ShipyardError:
                raise
            except sqlite3.IntegrityError as exc:
                raise ConflictError(f"the change contradicts stored data: {_first_line(exc)}") from None
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError(
                    f"metadata database error at {self.display_url}: {_first_line(exc)}"
                ) from exc

    # ---- the run path (sqlite3) ------------------------------------------------------------------
    def create_run(self, run: RunCreate) -> Run:
        with self._tx(write=True) as conn:
            return ops.create_run(conn, run)

    def get_run(self, run_id: str) -> Run:
        with self._tx(write=False) as conn:
            return ops.get_run(conn, run_id)

    def finish_run(self, run_id: str, status: RunStatus, end_time: datetime, error: str | None = None) -> Run:
        with self._tx(write=True) as conn:
            ops.finish_run(conn, run_id, status, end_time, error)
            return ops.get_run(conn, run_id)

    def heartbeat_run(self, run_id: str) -> None:
        with self._tx(write=True) as conn:
            ops.heartbeat_run(conn, run_id)

    def fail_stale_runs(self, timeout_s: float) -> list[str]:
        with self._tx(write=True) as conn:
            return ops.fail_stale_runs(conn, timeout_s)

    def record_artifact(self, artifact: ArtifactRecord) -> ArtifactRecord:
        with self._tx(write=True) as conn:
            return ops.record_artifact(conn, artifact)

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        with self._tx(write=False) as conn:
            return ops.get_artifact(conn, artifact_id)

    def find_artifact(self, run_id: str, name: str, task_id: str | None = None) -> ArtifactRecord:
        with self._tx(write=False) as conn:
            return ops.find_artifact(conn, run_id, name, task_id)

    def create_tasks(self, tasks: Sequence[Task]) -> None:
        with self._tx(write=True) as conn:
            ops.create_tasks(conn, tasks)

    def get_task(self, task_id: str) -> Task:
        with self._tx(write=False) as conn:
            return ops.get_task(conn, task_id)

    def list_tasks(self, run_id: str, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        check_page(limit, offset)
        with self._tx(write=False) as conn:
            return ops.list_tasks(conn, run_id, limit, offset)

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
        with self._tx(write=True) as conn:
            return ops.update_task(conn, task_id, changes)

    def record_lineage(self, edges: Sequence[LineageEdge]) -> None:
        with self._tx(write=True) as conn:
            ops.record_lineage(conn, edges)

    # ---- everything else: the SQL store on the same file -----------------------------------------
    def find_run_ids(self, prefix: str, limit: int = 2) -> list[str]:
        return self.full().find_run_ids(prefix, limit)

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
        return self.full().search_runs(
            namespaces,
            filter,
            order_by,
            max_results,
            offset,
            flow_name,
            statuses,
            hidden_projects=hidden_projects,
        )

    def count_runs(
        self,
        namespaces: Sequence[str] | None = None,
        filter: str | None = None,
        flow_name: str | None = None,
        statuses: Sequence[RunStatus] | None = None,
        *,
        hidden_projects: Sequence[str] = (),
    ) -> int:
        return self.full().count_runs(
            namespaces, filter, flow_name, statuses, hidden_projects=hidden_projects
        )

    def status_summary(self, *, hidden_projects: Sequence[str] = ()) -> StatusSummary:
        return self.full().status_summary(hidden_projects=hidden_projects)

    def task_timing(self, task_id: str) -> TaskTiming | None:
        return self.full().task_timing(task_id)

    def delete_run(self, run_id: str) -> None:
        self.full().delete_run(run_id)

    def referenced_digests(self) -> set[str]:
        return self.full().referenced_digests()

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self.full().log_params(run_id, params)

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        self.full().log_metrics(run_id, metrics)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.full().get_metric_history(run_id, key)

    def get_metric_history_page(
        self, run_id: str, key: str, *, limit: int = METRIC_PAGE_DEFAULT, page_token: str | None = None
    ) -> MetricPage:
        return self.full().get_metric_history_page(run_id, key, limit=limit, page_token=page_token)

    def log_metric_columns(
        self,
        run_id: str,
        keys: Sequence[str],
        values: Sequence[float],
        steps: Sequence[int],
        timestamps: Sequence[int],
    ) -> None:
        self.full().log_metric_columns(run_id, keys, values, steps, timestamps)

    def get_metric_columns_page(
        self, run_id: str, key: str, *, limit: int = METRIC_PAGE_DEFAULT, page_token: str | None = None
    ) -> MetricColumnsPage:
        return self.full().get_metric_columns_page(run_id, key, limit=limit, page_token=page_token)

    def get_run_metric_chunks(self, run_id: str, *, page_token: str | None = None) -> MetricChunksPage:
        return self.full().get_run_metric_chunks(run_id, page_token=page_token)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.full().set_tags(run_id, tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.full().delete_tag(run_id, key)

    def list_artifacts(
        self, run_id: str, task_id: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[ArtifactRecord]:
        return self.full().list_artifacts(run_id, task_id, limit=limit, offset=offset)

    def list_task_attempts(self, task_id: str) -> list[TaskAttempt]:
        return self.full().list_task_attempts(task_id)

    def task_inputs(self, task_id: str, *, limit: int | None = None, offset: int = 0) -> list[LineageEdge]:
        return self.full().task_inputs(task_id, limit=limit, offset=offset)

    def artifact_consumers(
        self, artifact_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[LineageEdge]:
        return self.full().artifact_consumers(artifact_id, limit=limit, offset=offset)

    def find_cached_task(self, namespace: str, step: str, cache_key: str) -> Task | None:
        return self.full().find_cached_task(namespace, step, cache_key)


def _connect(path: Path) -> sqlite3.Connection | None:
    """A read-write connection set up as the SQL store's engine sets up its own, or None when the
    file cannot be opened or its schema is not at :func:`declared_heads`."""
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        conn.isolation_level = None  # we issue BEGIN ourselves
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA case_sensitive_like = ON")
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            conn.close()  # the SQL store switches a file to WAL (with its retries) on open
            return None
        conn.execute("PRAGMA synchronous = NORMAL")
        stored = tuple(sorted(str(r[0]) for r in conn.execute(f"SELECT version_num FROM {VERSION_TABLE}")))
    except sqlite3.Error:
        conn.close()
        return None
    if stored != declared_heads():
        conn.close()
        return None
    return conn
