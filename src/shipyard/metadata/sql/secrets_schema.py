"""Secrets, encrypted at rest, on the shared ``MetaData`` (Alembic revision 0008_secrets).

One row per (project, environment, name): the AES-GCM ``ciphertext`` (with its tag), its 96-bit
``nonce`` and the ``key_id`` of the key that wrote it (see :mod:`shipyard.secrets.crypto`). The
value itself is never stored in clear.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, LargeBinary, PrimaryKeyConstraint, String, Table

from shipyard.metadata.sql.schema import KEY, metadata
from shipyard.metadata.sql.types import UtcDateTime

secrets = Table(
    "secrets",
    metadata,
    Column("project", String(64), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("nonce", LargeBinary(), nullable=False),
    Column("ciphertext", LargeBinary(), nullable=False),
    Column("version", Integer(), nullable=False),  # 1 for a new secret, +1 per write
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(KEY), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", String(KEY), nullable=False),
    PrimaryKeyConstraint("project", "environment", "name"),
)
