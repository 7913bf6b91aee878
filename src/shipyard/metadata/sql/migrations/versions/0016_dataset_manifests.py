"""Dataset manifests: a version's file list as one compressed value
(``dataset_versions.manifest`` and its sha256) instead of one ``dataset_files`` row per file, and
the distinct blobs each version needs (``dataset_version_blobs``) for garbage collection.
Versions written before keep their ``dataset_files`` rows.

Tables are defined in ``shipyard/metadata/sql/datasets_schema.py``.

Revision ID: 0016_dataset_manifests
Revises: 0015_data_policies
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_dataset_manifests"
down_revision = "0015_data_policies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dataset_versions", sa.Column("manifest", sa.LargeBinary(), nullable=True))
    op.add_column("dataset_versions", sa.Column("manifest_digest", sa.String(length=64), nullable=True))
    op.create_table(
        "dataset_version_blobs",
        sa.Column("dataset_name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_name", "version"],
            ["dataset_versions.dataset_name", "dataset_versions.version"],
            name=op.f("fk_dataset_version_blobs_dataset_name_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_name", "version", "digest", name=op.f("pk_dataset_version_blobs")),
    )
    op.create_index(op.f("ix_dataset_version_blobs_digest"), "dataset_version_blobs", ["digest"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dataset_version_blobs_digest"), table_name="dataset_version_blobs")
    op.drop_table("dataset_version_blobs")
    # versions written since keep no dataset_files rows: downgrading loses their file lists
    op.drop_column("dataset_versions", "manifest_digest")
    op.drop_column("dataset_versions", "manifest")
