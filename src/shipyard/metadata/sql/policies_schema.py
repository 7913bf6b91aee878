"""Data policies, one row each (Alembic revision 0015_data_policies)."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text

from shipyard.metadata.sql.schema import KEY, metadata
from shipyard.metadata.sql.types import JsonText, UtcDateTime

data_policies = Table(
    "data_policies",
    metadata,
    Column("name", String(KEY), primary_key=True),
    Column("target_kind", String(16), nullable=False),
    Column("target", String(KEY), nullable=False),
    Column("subjects", JsonText(), nullable=False),
    Column("columns", JsonText(), nullable=False),
    Column("row_filter", Text(), nullable=True),
    Column("description", Text(), nullable=False),
    Column("created_by", String(KEY), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "target_kind", "target"),
)
