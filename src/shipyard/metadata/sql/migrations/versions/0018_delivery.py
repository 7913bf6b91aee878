"""Delivery state: ``deploy_objects`` (the desired state per project and environment),
``deploy_releases`` and ``deploy_locks``.

Tables are defined in ``shipyard/metadata/sql/delivery_schema.py``.

Revision ID: 0018_delivery
Revises: 0017_schedules
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_delivery"
down_revision = "0017_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploy_objects",
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(length=600), nullable=True),
        sa.Column("release", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project", "environment", "kind", "name", name=op.f("pk_deploy_objects")),
    )
    op.create_table(
        "deploy_releases",
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=True),
        sa.Column("author", sa.String(length=250), nullable=True),
        sa.Column("applied_by", sa.String(length=250), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("restores", sa.Integer(), nullable=True),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("project", "environment", "number", name=op.f("pk_deploy_releases")),
    )
    op.create_table(
        "deploy_locks",
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("owner", sa.String(length=250), nullable=False),
        sa.Column("held_by", sa.String(length=250), nullable=False),
        sa.Column("acquired_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project", "environment", name=op.f("pk_deploy_locks")),
    )


def downgrade() -> None:
    op.drop_table("deploy_locks")
    op.drop_table("deploy_releases")
    op.drop_table("deploy_objects")
