"""Datasets: named datasets, immutable versions with their files, aliases, and the runs that read
or wrote each version.

Tables are defined in ``shipyard/metadata/sql/datasets_schema.py``.

Revision ID: 0013_datasets
Revises: 0012_attempts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_datasets"
down_revision = "0012_attempts"
branch_labels = None
depends_on = None


def _version_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["dataset_name", "version"],
        ["dataset_versions.dataset_name", "dataset_versions.version"],
        name=op.f(f"fk_{table}_dataset_name_dataset_versions"),
        ondelete="CASCADE",
    )


def _dataset_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["dataset_name"],
        ["datasets.name"],
        name=op.f(f"fk_{table}_dataset_name_datasets"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("canonical", sa.String(length=250), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=250), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_datasets")),
    )
    op.create_index(op.f("ix_datasets_canonical"), "datasets", ["canonical"], unique=True)
    op.create_table(
        "dataset_versions",
        sa.Column("dataset_name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_format", sa.String(length=32), nullable=False),
        sa.Column("num_files", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=True),
        sa.Column("columns", sa.Text(), nullable=False),
        sa.Column("stats", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _dataset_fk("dataset_versions"),
        sa.PrimaryKeyConstraint("dataset_name", "version", name=op.f("pk_dataset_versions")),
    )
    op.create_table(
        "dataset_files",
        sa.Column("dataset_name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("pack", sa.String(length=128), nullable=True),
        sa.Column("offset", sa.BigInteger(), nullable=True),
        _version_fk("dataset_files"),
        sa.PrimaryKeyConstraint("dataset_name", "version", "path", name=op.f("pk_dataset_files")),
    )
    op.create_table(
        "dataset_aliases",
        sa.Column("dataset_name", sa.String(length=250), nullable=False),
        sa.Column("alias", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=250), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _dataset_fk("dataset_aliases"),
        sa.PrimaryKeyConstraint("dataset_name", "alias", name=op.f("pk_dataset_aliases")),
    )
    op.create_table(
        "dataset_uses",
        sa.Column("dataset_name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        _version_fk("dataset_uses"),
        sa.PrimaryKeyConstraint(
            "dataset_name", "version", "run_id", "task_id", "direction", name=op.f("pk_dataset_uses")
        ),
    )
    op.create_index(op.f("ix_dataset_uses_run_id"), "dataset_uses", ["run_id"])


def downgrade() -> None:
    for table in ("dataset_uses", "dataset_aliases", "dataset_files", "dataset_versions", "datasets"):
        op.drop_table(table)
