"""The few statements that differ by dialect: upserts and the database's clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Connection, Table, literal_column
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(conn: Connection, table: Table) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing`` / ``on_conflict_do_update`` (SQLite, Postgres)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def store_now(conn: Connection) -> ColumnElement[int]:
    """The database's clock, as microseconds since the epoch (the ``UtcDateTime`` encoding),
    evaluated in the statement that uses it.

    Liveness (heartbeats, stale runs) is judged on this one clock, never on the clocks of the
    clients that write heartbeats or read runs: a client whose clock runs behind or ahead is
    neither failed too early nor kept alive after it died."""
    if conn.dialect.name == "postgresql":
        sql = "CAST(EXTRACT(EPOCH FROM now()) * 1000000 AS BIGINT)"
    else:  # julianday('now') is fixed for the whole statement (millisecond resolution)
        sql = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
    return literal_column(sql, BigInteger())
