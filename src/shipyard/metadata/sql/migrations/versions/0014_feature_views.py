"""Applied feature views, one row per version: ``feature_views``.

Tables are defined in ``shipyard/metadata/sql/features_schema.py``.

Revision ID: 0014_feature_views
Revises: 0013_datasets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_feature_views"
down_revision = "0013_datasets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_views",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=250), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_feature_views")),
    )


def downgrade() -> None:
    op.drop_table("feature_views")
