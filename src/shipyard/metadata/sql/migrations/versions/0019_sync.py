"""Sync status: ``deploy_sync``, what a sync loop (``shipyard sync``) last said of each
environment (synced / out-of-sync / degraded, the git revision, the drift) and its wake counter.

Tables are defined in ``shipyard/metadata/sql/delivery_schema.py``.

Revision ID: 0019_sync
Revises: 0018_delivery
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_sync"
down_revision = "0018_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploy_sync",
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("repo", sa.String(length=600), nullable=True),
        sa.Column("branch", sa.String(length=250), nullable=True),
        sa.Column("revision", sa.String(length=64), nullable=True),
        sa.Column("synced_revision", sa.String(length=64), nullable=True),
        sa.Column("release", sa.Integer(), nullable=True),
        sa.Column("running_commit", sa.String(length=64), nullable=True),
        sa.Column("drift", sa.Text(), nullable=True),
        sa.Column("drifted", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.BigInteger(), nullable=True),
        sa.Column("checked_by", sa.String(length=250), nullable=True),
        sa.Column("wake", sa.Integer(), nullable=False),
        sa.Column("woken_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("project", "environment", name=op.f("pk_deploy_sync")),
    )


def downgrade() -> None:
    op.drop_table("deploy_sync")
