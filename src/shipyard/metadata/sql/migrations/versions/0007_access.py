"""Access as data: projects, service accounts, groups, custom roles, bindings, narrowed tokens,
the audit chain.

Each user's single role (``users.role``) becomes a binding of that role at the server scope
(``*``): ``reader`` -> ``viewer``, ``writer`` -> ``developer``, ``admin`` -> ``admin``. The
downgrade gives each user back the strongest built-in role it held at ``*`` (custom roles and
narrower bindings cannot be expressed there and are dropped).

Tables are defined in ``shipyard/metadata/sql/security_schema.py``.

Revision ID: 0007_access
Revises: 0006_canonical_names
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0007_access"
down_revision = "0006_canonical_names"
branch_labels = None
depends_on = None

_NEW_ROLE = {"reader": "viewer", "writer": "developer", "admin": "admin"}
_OLD_ROLE = {"viewer": "reader", "developer": "writer", "maintainer": "writer", "admin": "admin"}
_RANK = ["reader", "writer", "admin"]


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_projects")),
    )
    op.create_table(
        "custom_roles",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_custom_roles")),
    )
    op.create_table(
        "groups",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_groups")),
    )
    op.create_table(
        "group_members",
        sa.Column("group", sa.String(length=250), nullable=False),
        sa.Column("member", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["group"], ["groups.name"], name=op.f("fk_group_members_group_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member"], ["users.name"], name=op.f("fk_group_members_member_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group", "member", name=op.f("pk_group_members")),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_member"), ["member"], unique=False)
    bindings = op.create_table(
        "bindings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("principal_kind", sa.String(length=16), nullable=False),
        sa.Column("principal", sa.String(length=250), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bindings")),
        sa.UniqueConstraint(
            "principal_kind",
            "principal",
            "role",
            "scope",
            name=op.f("uq_bindings_principal_kind_principal_role_scope"),
        ),
    )
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bindings_principal"), ["principal"], unique=False)

    conn = op.get_bind()
    users = sa.table(
        "users",
        sa.column("name", sa.String),
        sa.column("role", sa.String),
        sa.column("created_at", sa.BigInteger),
    )
    rows = [
        {
            "id": uuid.uuid4().hex,
            "principal_kind": "user",
            "principal": name,
            "role": _NEW_ROLE.get(role, "viewer"),
            "scope": "*",
            "created_at": created_at,
            "created_by": "migration 0007_access",
        }
        for name, role, created_at in conn.execute(sa.select(users.c.name, users.c.role, users.c.created_at))
    ]
    if rows:
        conn.execute(bindings.insert(), rows)
    # plain ALTER TABLE (never a batch rebuild: on SQLite, with foreign keys on, dropping the old
    # ``users`` table would cascade-delete every token)
    op.add_column("users", sa.Column("kind", sa.String(length=16), nullable=False, server_default="user"))
    op.add_column("users", sa.Column("description", sa.Text(), nullable=False, server_default=""))
    op.drop_column("users", "role")
    if conn.dialect.name != "sqlite":  # SQLite cannot drop a default without a rebuild; it is harmless
        op.alter_column("users", "kind", server_default=None)
        op.alter_column("users", "description", server_default=None)
    op.add_column("api_tokens", sa.Column("scope", sa.String(length=250), nullable=True))
    op.add_column("api_tokens", sa.Column("permissions", sa.Text(), nullable=True))
    for column in (
        sa.Column("scope", sa.String(length=250), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("chain", sa.String(length=64), nullable=True),
    ):
        op.add_column("audit_events", column)


def downgrade() -> None:
    conn = op.get_bind()
    for name in ("chain", "detail", "source", "request_id", "scope"):
        op.drop_column("audit_events", name)
    op.drop_column("api_tokens", "permissions")
    op.drop_column("api_tokens", "scope")
    op.add_column("users", sa.Column("role", sa.String(length=16), nullable=False, server_default="reader"))
    if conn.dialect.name != "sqlite":
        op.alter_column("users", "role", server_default=None)
    op.drop_column("users", "description")
    op.drop_column("users", "kind")
    bindings = sa.table(
        "bindings",
        sa.column("principal_kind", sa.String),
        sa.column("principal", sa.String),
        sa.column("role", sa.String),
        sa.column("scope", sa.String),
    )
    best: dict[str, str] = {}
    query = sa.select(bindings.c.principal, bindings.c.role).where(
        bindings.c.principal_kind == "user", bindings.c.scope == "*"
    )
    for principal, role in conn.execute(query):
        old = _OLD_ROLE.get(role, "reader")
        if _RANK.index(old) >= _RANK.index(best.get(principal, "reader")):
            best[principal] = old
    users = sa.table("users", sa.column("name", sa.String), sa.column("role", sa.String))
    for name, role in best.items():
        conn.execute(users.update().where(users.c.name == name).values(role=role))
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bindings_principal"))
    op.drop_table("bindings")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_members_member"))
    op.drop_table("group_members")
    op.drop_table("groups")
    op.drop_table("custom_roles")
    op.drop_table("projects")
