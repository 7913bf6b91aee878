"""Monitoring: reference profiles, monitors, monitor results and alerts.

Tables are defined in ``shipyard/metadata/sql/monitoring_schema.py``.

Revision ID: 0004_monitoring
Revises: 0003_security
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_monitoring"
down_revision = "0003_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_profiles",
        sa.Column("model_name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("importance", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("model_name", "version", name=op.f("pk_reference_profiles")),
    )
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("deployment", sa.String(length=250), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_monitors")),
    )
    op.create_table(
        "monitor_results",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("monitor", sa.String(length=250), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("check", sa.String(length=250), nullable=False),
        sa.Column("subject", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_results")),
    )
    with op.batch_alter_table("monitor_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitor_results_monitor_at"), ["monitor", "at"], unique=False)
    op.create_table(
        "monitor_alerts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("monitor", sa.String(length=250), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("delivery", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_alerts")),
    )
    with op.batch_alter_table("monitor_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitor_alerts_monitor_key"), ["monitor", "key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("monitor_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_alerts_monitor_key"))
    op.drop_table("monitor_alerts")
    with op.batch_alter_table("monitor_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_results_monitor_at"))
    op.drop_table("monitor_results")
    op.drop_table("monitors")
    op.drop_table("reference_profiles")
