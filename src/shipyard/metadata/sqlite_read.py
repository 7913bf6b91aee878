"""Listing runs from a local SQLite metadata database with the standard library's ``sqlite3``.

The SQL store (:mod:`shipyard.metadata.sql`) imports SQLAlchemy, about half a second of every
``shipyard runs list``. For the common listing (namespaces, flow, statuses, newest first, a page)
:class:`SqliteRunReader` runs the same query with plain SQL and answers the same
:class:`~shipyard.metadata.base.RunPage`; everything else (filters, ordering, values, writes,
Postgres, a server) stays with the full store.

It only reads a database it can trust to have the expected layout: :meth:`SqliteRunReader.open`
returns ``None`` (use the full store) when the file is missing or unreadable, or when its schema
revision is not this code's head (an older database the full store would migrate, or a newer one it
would refuse). All reads of one reader see one snapshot (a read transaction).

The runs it returns carry the listing's fields (id, name, namespace, user, status, times, flow,
origin, error); ``params``, ``tags`` and ``metrics`` are empty and ``flow_spec`` and
``code_version`` unset — callers that show those use the full store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from shipyard.core.clock import from_micros
from shipyard.core.entities import ORCHESTRATOR_TAG, Run, RunStatus
from shipyard.metadata.base import RunPage
from shipyard.metadata.schema_heads import open_current_snapshot

MAX_RESULTS = 10_000  # as the SQL store (shipyard.metadata.sql.search)
_COLUMNS = (
    "id, name, namespace, user, status, start_time, end_time, heartbeat_at, flow_name, origin_run_id, error"
)
# the SQL store's clock (shipyard.metadata.sql.dialect.store_now): microseconds since the epoch
_NOW_US = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"


class SqliteRunReader:
    """Read-only run listings from one SQLite metadata database (see the module doc)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, path: Path) -> SqliteRunReader | None:
        """A reader of the database at ``path``, or None when the full store must be used."""
        conn = open_current_snapshot(path)
        return None if conn is None else cls(conn)

    def close(self) -> None:
        self._conn.close()

    def has_stale_runs(self, timeout_s: float) -> bool:
        """Whether a RUNNING run's heartbeat lapsed (what ``fail_stale_runs`` would fail): a reader
        cannot fail it, so a caller that reaps first uses the full store then."""
        row = self._conn.execute(
            "SELECT 1 FROM runs WHERE status = ? "
            f"AND coalesce(heartbeat_at, start_time) < {_NOW_US} - ? "
            "AND NOT EXISTS (SELECT 1 FROM tags WHERE tags.run_id = runs.id AND tags.key = ?) LIMIT 1",
            (RunStatus.RUNNING.value, round(timeout_s * 1e6), ORCHESTRATOR_TAG),
        ).fetchone()
        return row is not None

    def search_runs(
        self,
        namespaces: Sequence[str] | None = None,
        max_results: int = 100,
        offset: int = 0,
        flow_name: str | None = None,
        statuses: Sequence[RunStatus] | None = None,
    ) -> RunPage:
        """As :meth:`MetadataStore.search_runs` with no filter and the default order (newest
        first, then id descending); the same arguments are refused the same way."""
        from shipyard.core.errors import InvalidInputError

        if not 1 <= max_results <= MAX_RESULTS:
            raise InvalidInputError(f"max_results must be between 1 and {MAX_RESULTS}, got {max_results}")
        if offset < 0:
            raise InvalidInputError(f"offset must be 0 or more, got {offset}")
        where: list[str] = []
        args: list[object] = []
        if namespaces is not None:
            if isinstance(namespaces, str):
                raise InvalidInputError(f"namespaces must be a list of strings, e.g. [{namespaces!r}]")
            where.append(_in("namespace", len(namespaces)))
            args += list(namespaces)
        if flow_name is not None:
            where.append("flow_name = ?")
            args.append(flow_name)
        if statuses is not None:
            where.append(_in("status", len(statuses)))
            args += [RunStatus(s).value for s in statuses]
        sql = f"SELECT {_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_time DESC, id DESC LIMIT ? OFFSET ?"
        rows = self._conn.execute(sql, (*args, max_results + 1, offset)).fetchall()
        more = len(rows) > max_results
        page = [_run(row) for row in rows[:max_results]]
        if more:
            return RunPage(page, next_offset=offset + max_results, total=None)
        return RunPage(page, next_offset=None, total=offset + len(page) if page or offset == 0 else None)


def _in(column: str, count: int) -> str:
    return f"{column} IN ({', '.join('?' * count)})" if count else "0 = 1"


def _time(value: Any) -> datetime | None:
    return None if value is None else from_micros(int(value))


def _run(row: Any) -> Run:
    run_id, name, namespace, user, status, start, end, heartbeat, flow_name, origin, error = row
    return Run(
        id=str(run_id),
        name=str(name),
        namespace=str(namespace),
        user=str(user),
        status=RunStatus(status),
        start_time=from_micros(int(start)),
        end_time=_time(end),
        heartbeat_at=_time(heartbeat),
        params={},
        tags={},
        metrics={},
        flow_name=None if flow_name is None else str(flow_name),
        origin_run_id=None if origin is None else str(origin),
        error=None if error is None else str(error),
    )
