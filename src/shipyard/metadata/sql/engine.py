"""Engines for SQLite and Postgres, with the connection settings shipyard relies on.

SQLite: WAL journal, a 30 s busy timeout, foreign keys on, case-sensitive LIKE (as on Postgres),
and explicit ``BEGIN IMMEDIATE`` for write transactions so concurrent writers queue on the busy
timeout instead of failing with a lock-upgrade deadlock. Reads use a deferred ``BEGIN`` (a snapshot).

Postgres: every wait is bounded by ``timeout_s`` (``Settings.db_timeout_s``): the connect timeout,
the pool's checkout wait, ``statement_timeout`` and ``lock_timeout`` on the server, and a client-side
:class:`~shipyard.metadata.sql.watchdog.Watchdog` on each statement and checkout ping for a database
that is frozen rather than down. A stale pooled connection (the database restarted) fails its ping
and is replaced, so the store recovers by itself. Connections with the ``UNBOUNDED`` execution option
(migrations) are exempt from the statement deadline.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url, pool
from sqlalchemy.exc import ArgumentError

from shipyard.core.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5
DEFAULT_TIMEOUT_S = 30.0  # Settings.db_timeout_s
WATCHDOG_GRACE_S = 2.0  # the server's own statement_timeout answers first when the database runs
WRITE = {"shipyard_write": True}  # execution option that selects BEGIN IMMEDIATE on SQLite
UNBOUNDED = {"shipyard_unbounded": True}  # no statement deadline (migrations)
_PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def normalize_url(url: str) -> URL:
    """Parse a metadata URL; ``postgres://`` and ``postgresql://`` use the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"cannot parse metadata URL {url!r}: {exc}; expected sqlite:///path/to/file.db "
            "or postgresql://user@host:5432/dbname"
        ) from None
    driver = parsed.drivername
    if driver in _PG_SCHEMES:
        return parsed.set(drivername="postgresql+psycopg")
    if driver in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+pysqlite")
        if parsed.database and parsed.database != ":memory:" and parsed.database.startswith("~"):
            parsed = parsed.set(database=str(Path(parsed.database).expanduser()))
        return parsed
    raise ConfigurationError(
        f"the SQL metadata store does not support {driver!r} URLs; use sqlite:///... or postgresql://..."
    )


def display_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_store_engine(url: URL, timeout_s: float = DEFAULT_TIMEOUT_S) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return _postgres_engine(url, timeout_s)


def _set_wal(cur: Any) -> None:
    """Switch to WAL unless the file already uses it. Changing the journal mode (and the WAL
    recovery a first opener may run) can answer SQLITE_BUSY without consulting the busy timeout
    when another process opens the database at the same moment, so that case is retried."""
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _postgres_engine(url: URL, timeout_s: float) -> Engine:
    from sqlalchemy.exc import DisconnectionError

    from shipyard.metadata.sql.watchdog import Watchdog

    ms = max(1, int(timeout_s * 1000))
    given = url.query.get("options")  # e.g. options=-csearch_path=... : kept, ours appended
    given = given if isinstance(given, str) else " ".join(given or ())
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, min(PG_CONNECT_TIMEOUT_S, math.ceil(timeout_s))),
        "options": f"{given} -c statement_timeout={ms} -c lock_timeout={ms}".strip(),
    }
    # pre-ping is done below, under the watchdog (SQLAlchemy's own ping could wait for ever)
    engine = create_engine(url, pool_timeout=timeout_s, connect_args=connect_args)
    watchdog = Watchdog()
    _dispose_after_fork(engine)

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        """SQLAlchemy's pessimistic-disconnect recipe: a connection that cannot answer a trivial
        query in time is discarded (DisconnectionError makes the pool retry with a fresh one)."""
        try:
            with watchdog.watching(dbapi_conn, timeout_s):
                cur = dbapi_conn.cursor()
                try:
                    cur.execute("SELECT 1")
                finally:
                    cur.close()
                if not dbapi_conn.autocommit:
                    dbapi_conn.rollback()
        except Exception as exc:
            raise DisconnectionError(f"stale or unresponsive connection: {exc}") from exc

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn: Any, *_: Any) -> None:
        if not conn.get_execution_options().get("shipyard_unbounded", False):
            watchdog.watch(conn.connection.dbapi_connection, timeout_s + WATCHDOG_GRACE_S)

    @event.listens_for(engine, "after_cursor_execute")
    def _disarm(conn: Any, *_: Any) -> None:
        watchdog.release(conn.connection.dbapi_connection)

    @event.listens_for(engine, "handle_error")
    def _disarm_on_error(context: Any) -> None:
        if context.connection is not None and not context.connection.closed:
            with contextlib.suppress(Exception):
                watchdog.release(context.connection.connection.dbapi_connection)

    return engine


def _sqlite_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    if is_memory(url):
        engine = create_engine(url, connect_args=connect_args, poolclass=pool.StaticPool)
    else:
        assert url.database is not None
        folder = Path(url.database).expanduser().resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the folder {folder} for the metadata database: {exc.strerror or exc}; "
                "choose a writable location (SHIPYARD_HOME or SHIPYARD_URI)"
            ) from None
        engine = create_engine(url, connect_args=connect_args, poolclass=pool.QueuePool, pool_size=8)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA case_sensitive_like = ON")
            if not is_memory(url):
                _set_wal(cur)
                cur.execute("PRAGMA synchronous = NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("shipyard_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    _dispose_after_fork(engine)
    return engine


def _dispose_after_fork(engine: Engine) -> None:
    """A child process never reuses its parent's pooled connections (SQLAlchemy's recipe)."""

    @event.listens_for(engine, "connect")
    def _remember_pid(dbapi_conn: Any, record: Any) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _check_pid(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        pid = os.getpid()
        if record.info.get("pid") != pid:
            from sqlalchemy.exc import DisconnectionError

            record.dbapi_connection = proxy.dbapi_connection = None
            raise DisconnectionError(f"connection belongs to process {record.info['pid']}, not {pid}")
