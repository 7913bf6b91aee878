"""Model registry: registered models and tags, versions and tags, aliases and their history, lineage.

Times are BIGINT microseconds since the epoch (UtcDateTime); JSON columns are TEXT. Tables are defined
in ``shipyard/metadata/sql/model_registry_schema.py``.

Revision ID: 0002_registry
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_registry"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_registered_models")),
    )
    op.create_table(
        "model_alias_history",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("model_name", sa.String(length=250), nullable=False),
        sa.Column("alias", sa.String(length=250), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("old_version", sa.Integer(), nullable=True),
        sa.Column("new_version", sa.Integer(), nullable=True),
        sa.Column("user", sa.String(length=250), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_name"],
            ["registered_models.name"],
            name=op.f("fk_model_alias_history_model_name_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_alias_history")),
    )
    with op.batch_alter_table("model_alias_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_alias_history_model_name_alias_id"),
            ["model_name", "alias", "id"],
            unique=False,
        )

    op.create_table(
        "model_aliases",
        sa.Column("model_name", sa.String(length=250), nullable=False),
        sa.Column("alias", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=250), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_name"],
            ["registered_models.name"],
            name=op.f("fk_model_aliases_model_name_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_name", "alias", name=op.f("pk_model_aliases")),
    )
    op.create_table(
        "model_versions",
        sa.Column("model_name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("package_digest", sa.String(length=128), nullable=False),
        sa.Column("package_size", sa.BigInteger(), nullable=False),
        sa.Column("flavor", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("artifact_id", sa.String(length=64), nullable=True),
        sa.Column("artifact_name", sa.String(length=250), nullable=True),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("unsafe", sa.Boolean(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("approved_by", sa.String(length=250), nullable=True),
        sa.Column("approved_at", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_name"],
            ["registered_models.name"],
            name=op.f("fk_model_versions_model_name_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_name", "version", name=op.f("pk_model_versions")),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_versions_package_digest"), ["package_digest"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_model_versions_run_id"), ["run_id"], unique=False)

    op.create_table(
        "registered_model_tags",
        sa.Column("model_name", sa.String(length=250), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_name"],
            ["registered_models.name"],
            name=op.f("fk_registered_model_tags_model_name_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_name", "key", name=op.f("pk_registered_model_tags")),
    )
    op.create_table(
        "model_version_lineage",
        sa.Column("model_name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("serializer", sa.String(length=64), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("producer_step", sa.String(length=250), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_name", "version"],
            ["model_versions.model_name", "model_versions.version"],
            name=op.f("fk_model_version_lineage_model_name_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "model_name", "version", "artifact_id", name=op.f("pk_model_version_lineage")
        ),
    )
    with op.batch_alter_table("model_version_lineage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_version_lineage_artifact_id"), ["artifact_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_model_version_lineage_digest"), ["digest"], unique=False)

    op.create_table(
        "model_version_tags",
        sa.Column("model_name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_name", "version"],
            ["model_versions.model_name", "model_versions.version"],
            name=op.f("fk_model_version_tags_model_name_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_name", "version", "key", name=op.f("pk_model_version_tags")),
    )


def downgrade() -> None:
    op.drop_table("model_version_tags")
    with op.batch_alter_table("model_version_lineage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_version_lineage_digest"))
        batch_op.drop_index(batch_op.f("ix_model_version_lineage_artifact_id"))

    op.drop_table("model_version_lineage")
    op.drop_table("registered_model_tags")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_versions_run_id"))
        batch_op.drop_index(batch_op.f("ix_model_versions_package_digest"))

    op.drop_table("model_versions")
    op.drop_table("model_aliases")
    with op.batch_alter_table("model_alias_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_alias_history_model_name_alias_id"))

    op.drop_table("model_alias_history")
    op.drop_table("registered_models")
