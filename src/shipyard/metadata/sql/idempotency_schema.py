"""Responses kept for ``Idempotency-Key`` retries (Alembic revision 0011_idempotency).

One row per (principal, key): the route and the sha256 of the request body it was first used with,
and — once the request finished — its status, content type and body. ``status`` NULL: the first
request is still running. Rows older than the server's TTL are deleted as new keys arrive.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, PrimaryKeyConstraint, String, Table

from shipyard.metadata.sql.schema import KEY, metadata
from shipyard.metadata.sql.types import UtcDateTime

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(KEY), nullable=False),
    Column("key", String(128), nullable=False),
    Column("route", String(KEY), nullable=False),
    Column("body_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("status", Integer(), nullable=True),
    Column("content_type", String(100), nullable=True),
    Column("response", LargeBinary(), nullable=True),
    PrimaryKeyConstraint("principal", "key"),
    Index(None, "created_at"),
)
