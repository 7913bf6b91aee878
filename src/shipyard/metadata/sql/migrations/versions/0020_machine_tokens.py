"""Machine tokens: ``api_tokens.actions``, the actions (run, plan, apply, promote, sync) a CI token
may take at its ``project:P/env:E`` scope (NULL: a plain token).

Tables are defined in ``shipyard/metadata/sql/security_schema.py``.

Revision ID: 0020_machine_tokens
Revises: 0019_sync
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_machine_tokens"
down_revision = "0019_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("actions", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("actions")
