"""The branch registry (Alembic revision 0021_branches): one row per (project, branch); see
``shipyard/metadata/branches.py``."""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from shipyard.metadata.sql.schema import KEY, metadata
from shipyard.metadata.sql.types import UtcDateTime

branches = Table(
    "branches",
    metadata,
    Column("project", String(63), primary_key=True),
    Column("name", String(40), primary_key=True),
    Column("created_by", String(KEY), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("deleted_at", UtcDateTime(), nullable=True),
    Column("deleted_by", String(KEY), nullable=True),
)
