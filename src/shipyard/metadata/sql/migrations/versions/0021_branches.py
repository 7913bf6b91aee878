"""Branches: ``branches``, the branch registry (which branches a project has, who started each,
whether it was deleted; ``shipyard branches``).

Tables are defined in ``shipyard/metadata/sql/branches_schema.py``.

Revision ID: 0021_branches
Revises: 0019_sync
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_branches"
down_revision = "0020_machine_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "branches",
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
        sa.Column("deleted_by", sa.String(length=250), nullable=True),
        sa.PrimaryKeyConstraint("project", "name", name=op.f("pk_branches")),
    )


def downgrade() -> None:
    op.drop_table("branches")
