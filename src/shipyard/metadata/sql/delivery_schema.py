"""Delivery state (Alembic revisions 0018_delivery, 0019_sync): per (project, environment) the
applied objects, the releases, the apply lock and the sync status; see
``shipyard/metadata/delivery.py``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from shipyard.metadata.sql.schema import KEY, metadata
from shipyard.metadata.sql.types import DocumentJsonText, JsonText, UtcDateTime

SCOPE_NAME = 63  # a project or environment name (a scope's part)

deploy_objects = Table(
    "deploy_objects",
    metadata,
    Column("project", String(SCOPE_NAME), primary_key=True),
    Column("environment", String(SCOPE_NAME), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("name", String(KEY), primary_key=True),
    Column("spec", JsonText(), nullable=False),
    Column("model_version", String(600), nullable=True),
    Column("release", Integer(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

deploy_releases = Table(
    "deploy_releases",
    metadata,
    Column("project", String(SCOPE_NAME), primary_key=True),
    Column("environment", String(SCOPE_NAME), primary_key=True),
    Column("number", Integer(), primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("spec_hash", String(64), nullable=False),
    Column("commit", String(64), nullable=True),
    Column("author", String(KEY), nullable=True),
    Column("applied_by", String(KEY), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", Text(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("restores", Integer(), nullable=True),
    Column("changes", Integer(), nullable=False),
    Column("plan", DocumentJsonText(), nullable=False),
    Column("state", DocumentJsonText(), nullable=True),
)

deploy_locks = Table(
    "deploy_locks",
    metadata,
    Column("project", String(SCOPE_NAME), primary_key=True),
    Column("environment", String(SCOPE_NAME), primary_key=True),
    Column("owner", String(KEY), nullable=False),
    Column("held_by", String(KEY), nullable=False),
    Column("acquired_at", BigInteger(), nullable=False),  # microseconds on the database's clock
    Column("expires_at", BigInteger(), nullable=False),
)

# revision 0019_sync: what a sync loop last said of each environment, and its wake counter
deploy_sync = Table(
    "deploy_sync",
    metadata,
    Column("project", String(SCOPE_NAME), primary_key=True),
    Column("environment", String(SCOPE_NAME), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text(), nullable=True),
    Column("repo", String(600), nullable=True),
    Column("branch", String(KEY), nullable=True),
    Column("revision", String(64), nullable=True),
    Column("synced_revision", String(64), nullable=True),
    Column("release", Integer(), nullable=True),
    Column("running_commit", String(64), nullable=True),
    Column("drift", JsonText(), nullable=True),
    Column("drifted", Integer(), nullable=False),
    Column("checked_at", UtcDateTime(), nullable=True),
    Column("checked_by", String(KEY), nullable=True),
    Column("wake", Integer(), nullable=False),
    Column("woken_at", UtcDateTime(), nullable=True),
)
