"""The scheduler's claims, one row each (Alembic revision 0017_schedules); see
:mod:`shipyard.metadata.schedules`. The primary key (flow, source, position) is the claim."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table, Text

from shipyard.metadata.schedules import MAX_SOURCE
from shipyard.metadata.sql.schema import ID, KEY, metadata
from shipyard.metadata.sql.types import UtcDateTime

schedule_claims = Table(
    "schedule_claims",
    metadata,
    Column("flow", String(KEY), primary_key=True),
    Column("source", String(MAX_SOURCE), primary_key=True),
    Column("position", BigInteger(), primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Column("claimed_by", String(KEY), nullable=False),
    Column("event", String(MAX_SOURCE), nullable=True),
    Column("run_id", String(ID), nullable=True),
    Column("error", Text(), nullable=True),
)
