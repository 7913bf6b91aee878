"""Principals, API tokens, roles, bindings and audit events, on the shared ``MetaData``.

Alembic revisions 0003_security (users, tokens, audit), 0006_canonical_names, 0007_access
(service accounts, groups, custom roles, bindings, projects, narrowed tokens, the audit hash
chain), 0009_login (``password_hash``) and 0020_machine_tokens (``api_tokens.actions``). Tokens
are stored as the sha256 of their value (``token_hash``, unique); the value itself is never
stored. A password is stored as its argon2id hash only. ``users.canonical`` is
:func:`shipyard.core.names.canonical_name` of the name, unique: ``Admin`` cannot be created beside ``admin``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shipyard.metadata.sql.schema import ID, KEY, metadata
from shipyard.metadata.sql.types import JsonText, UtcDateTime

users = Table(
    "users",
    metadata,
    Column("name", String(KEY), primary_key=True),
    Column("canonical", String(KEY), nullable=False),
    Column("kind", String(16), nullable=False),  # "user" | "service" (a service account)
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled", Boolean(), nullable=False),
    Column("description", Text(), nullable=False),
    Column("password_hash", String(255), nullable=True),  # argon2id; NULL: no password (UI login off)
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
    Column("scope", String(KEY), nullable=True),  # narrowed to this scope
    Column("permissions", JsonText(), nullable=True),  # narrowed to these permissions (a list)
    Column("actions", JsonText(), nullable=True),  # a machine token's actions (0020_machine_tokens)
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
    Column("scope", String(KEY), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("source", String(64), nullable=True),  # the client address
    Column("detail", Text(), nullable=True),  # canonical JSON: before/after digests, extra facts
    Column("chain", String(64), nullable=True),  # sha256(previous chain + this event); NULL before 0007
    Index(None, "at"),
)

projects = Table(  # the unit of ownership; a private project's runs are hidden from outsiders
    "projects",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("private", Boolean(), nullable=False),
    Column("description", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(KEY), nullable=False),
)

custom_roles = Table(
    "custom_roles",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("description", Text(), nullable=False),
    Column("permissions", JsonText(), nullable=False),  # a sorted list of catalog names
    Column("created_at", UtcDateTime(), nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("name", String(KEY), primary_key=True),
    Column("description", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group", String(KEY), ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True),
    Column("member", String(KEY), ForeignKey("users.name", ondelete="CASCADE"), primary_key=True),
    Index(None, "member"),
)

bindings = Table(
    "bindings",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("principal_kind", String(16), nullable=False),  # "user" (users and service accounts) | "group"
    Column("principal", String(KEY), nullable=False),
    Column("role", String(64), nullable=False),
    Column("scope", String(KEY), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(KEY), nullable=False),
    UniqueConstraint("principal_kind", "principal", "role", "scope"),
    Index(None, "principal"),
)
