"""Data policies (``data_policies``) and the indexes that find a blob's dataset versions.

Tables are defined in ``shipyard/metadata/sql/policies_schema.py`` (and the indexes on
``dataset_files`` in ``datasets_schema.py``).

Revision ID: 0015_data_policies
Revises: 0014_feature_views
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_data_policies"
down_revision = "0014_feature_views"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_policies",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=250), nullable=False),
        sa.Column("subjects", sa.Text(), nullable=False),
        sa.Column("columns", sa.Text(), nullable=False),
        sa.Column("row_filter", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_data_policies")),
    )
    op.create_index(op.f("ix_data_policies_target_kind_target"), "data_policies", ["target_kind", "target"])
    op.create_index(op.f("ix_dataset_files_digest"), "dataset_files", ["digest"])
    op.create_index(op.f("ix_dataset_files_pack"), "dataset_files", ["pack"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dataset_files_pack"), table_name="dataset_files")
    op.drop_index(op.f("ix_dataset_files_digest"), table_name="dataset_files")
    op.drop_index(op.f("ix_data_policies_target_kind_target"), table_name="data_policies")
    op.drop_table("data_policies")
