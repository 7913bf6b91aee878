"""Registered models may belong to a project: ``registered_models.project`` (NULL: the server
scope, as every model before this revision). Set when a model is created, never changed.

Tables are defined in ``shipyard/metadata/sql/model_registry_schema.py``.

Revision ID: 0010_model_projects
Revises: 0009_login
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_model_projects"
down_revision = "0009_login"
branch_labels = None
depends_on = None


# plain ALTER TABLE, never a batch rebuild: on SQLite with foreign keys on, dropping the old
# ``registered_models`` table would cascade-delete every version, alias and tag
def upgrade() -> None:
    op.add_column("registered_models", sa.Column("project", sa.String(length=250), nullable=True))


def downgrade() -> None:
    op.drop_column("registered_models", "project")
