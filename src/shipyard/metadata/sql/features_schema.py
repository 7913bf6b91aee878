"""Applied feature views, one row per version (Alembic revision 0014_feature_views)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table

from shipyard.metadata.sql.schema import KEY, metadata
from shipyard.metadata.sql.types import JsonText, UtcDateTime

feature_views = Table(
    "feature_views",
    metadata,
    Column("name", String(KEY), primary_key=True),
    Column("version", Integer(), primary_key=True),
    Column("spec", JsonText(), nullable=False),
    Column("spec_hash", String(64), nullable=False),
    Column("project", String(KEY), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(KEY), nullable=False),
)
