"""UI sign-in with a password: ``users.password_hash`` (an argon2id hash, NULL when the user has no
password; service accounts never have one).

Tables are defined in ``shipyard/metadata/sql/security_schema.py``.

Revision ID: 0009_login
Revises: 0008_secrets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_login"
down_revision = "0008_secrets"
branch_labels = None
depends_on = None


# plain ALTER TABLE, never a batch rebuild: on SQLite with foreign keys on, dropping the old
# ``users`` table would cascade-delete every token
def upgrade() -> None:
    op.add_column("users", sa.Column("password_hash", sa.String(length=255), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "password_hash")
