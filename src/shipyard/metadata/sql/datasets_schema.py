"""Dataset tables, on the metadata schema's shared ``MetaData`` (Alembic revision 0013_datasets).

``datasets.last_version`` is the per-dataset version counter (one ``UPDATE`` takes the row lock,
so concurrent snapshots get different numbers; deleted numbers are never reused).
``dataset_files`` lists every file of a version (path, content digest, size, rows, and for a small
file the pack blob and offset it is stored at): the blobs a version needs, so garbage collection
keeps them (``references.py``: digests and packs) and diffs compare digests.
``dataset_versions.columns`` is the schema with each column's tags (``pii``...); ``stats`` the
per-column statistics. ``dataset_uses`` links runs (and tasks) to the versions they read or
wrote; model versions reach datasets through their run. No foreign key to ``runs``: a version
outlives the run that made it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from shipyard.metadata.sql.schema import ID, KEY, metadata
from shipyard.metadata.sql.types import JsonText, UtcDateTime

PATH = 1024  # a file's path inside a version


def _dataset_fk() -> Column[str]:
    return Column(
        "dataset_name", String(KEY), ForeignKey("datasets.name", ondelete="CASCADE"), nullable=False
    )


def _version_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["dataset_name", "version"],
        ["dataset_versions.dataset_name", "dataset_versions.version"],
        ondelete="CASCADE",
    )


datasets = Table(
    "datasets",
    metadata,
    Column("name", String(KEY), primary_key=True),
    Column("canonical", String(KEY), nullable=False),
    Column("description", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("created_by", String(KEY), nullable=False),
    Column("last_version", Integer(), nullable=False),
    Column("project", String(KEY), nullable=True),
    Index(None, "canonical", unique=True),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    _dataset_fk(),
    Column("version", Integer(), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source_format", String(32), nullable=False),
    Column("num_files", Integer(), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("num_rows", BigInteger(), nullable=True),
    Column("columns", JsonText(), nullable=False),
    Column("stats", JsonText(), nullable=False),
    Column("description", Text(), nullable=False),
    Column("run_id", String(ID), nullable=True),
    Column("task_id", String(ID), nullable=True),
    Column("created_by", String(KEY), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("dataset_name", "version"),
)

dataset_files = Table(
    "dataset_files",
    metadata,
    Column("dataset_name", String(KEY), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("path", String(PATH), nullable=False),
    Column("digest", String(128), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("rows", BigInteger(), nullable=True),
    Column("pack", String(128), nullable=True),  # the pack blob holding a small file, if any
    Column("offset", BigInteger(), nullable=True),
    PrimaryKeyConstraint("dataset_name", "version", "path"),
    _version_fk(),  # no index on digest: garbage collection scans the table once anyway
)

dataset_aliases = Table(
    "dataset_aliases",
    metadata,
    _dataset_fk(),
    Column("alias", String(KEY), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("updated_by", String(KEY), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("dataset_name", "alias"),
)

dataset_uses = Table(
    "dataset_uses",
    metadata,
    Column("dataset_name", String(KEY), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("run_id", String(ID), nullable=False),
    Column("task_id", String(ID), nullable=False),  # '' for a run-level use (a primary key part)
    Column("direction", String(8), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("dataset_name", "version", "run_id", "task_id", "direction"),
    _version_fk(),
    Index(None, "run_id"),
)
