"""The scheduler's claims (``schedule_claims``): each fire time or event a flow's scheduler
claimed, keyed by (flow, source, position) so a tick is claimed once.

Tables are defined in ``shipyard/metadata/sql/schedules_schema.py``.

Revision ID: 0017_schedules
Revises: 0016_dataset_manifests
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_schedules"
down_revision = "0016_dataset_manifests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_claims",
        sa.Column("flow", sa.String(length=250), nullable=False),
        sa.Column("source", sa.String(length=600), nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.BigInteger(), nullable=False),
        sa.Column("claimed_by", sa.String(length=250), nullable=False),
        sa.Column("event", sa.String(length=600), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("flow", "source", "position", name=op.f("pk_schedule_claims")),
    )


def downgrade() -> None:
    op.drop_table("schedule_claims")
