"""Users, API tokens and audit events, on the shared ``MetaData`` (Alembic revision 0003_security).

Tokens are stored as the sha256 of their value (``token_hash``, unique); the value itself is
never stored. ``users.canonical`` is :func:`shipyard.core.names.canonical_name` of the name,
unique (revision 0006_canonical_names): ``Admin`` cannot be created beside ``admin``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from shipyard.metadata.sql.schema import ID, KEY, metadata
from shipyard.metadata.sql.types import UtcDateTime

users = Table(
    "users",
    metadata,
    Column("name", String(KEY), primary_key=True),
    Column("canonical", String(KEY), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled", Boolean(), nullable=False),
    Index(None, "canonical", unique=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("user", String(KEY), ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("name", String(KEY), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index(None, "user"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("user", String(KEY), nullable=False),
    Column("action", String(KEY), nullable=False),
    Column("target", Text(), nullable=False),
    Column("status", Integer(), nullable=False),
    Index(None, "at"),
)
