"""Model-registry tables, on the metadata schema's shared ``MetaData`` (Alembic revision 0002_registry).

``registered_models.last_version`` is the per-model version counter: registering a version
increments it with one ``UPDATE`` (a row lock on Postgres, the write lock on SQLite), so concurrent
registrations get different numbers, and deleted numbers are never handed out again.
``model_versions`` keeps no foreign key to ``runs``: a registered version outlives its source run.
``registered_models.canonical`` and ``model_aliases.canonical`` hold
:func:`shipyard.core.names.canonical_name` of the name (unique, per model for aliases; revision
0006_canonical_names), so ``Fraud`` cannot be registered beside ``fraud``.
``registered_models.project`` is the project a model belongs to (NULL: the server scope; revision
0010_model_projects); it is set when the model is created and never changes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.schema import ForeignKeyConstraint

from shipyard.metadata.sql.schema import ID, KEY, metadata
from shipyard.metadata.sql.types import DocumentJsonText, UtcDateTime


def _model_fk() -> Column[str]:
    return Column(
        "model_name", String(KEY), ForeignKey("registered_models.name", ondelete="CASCADE"), nullable=False
    )


registered_models = Table(
    "registered_models",
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

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    _model_fk(),
    Column("key", String(KEY), nullable=False),
    Column("value", Text(), nullable=False),
    PrimaryKeyConstraint("model_name", "key"),
)

model_versions = Table(
    "model_versions",
    metadata,
    _model_fk(),
    Column("version", Integer(), nullable=False),
    Column("package_digest", String(128), nullable=False),
    Column("package_size", BigInteger(), nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("run_id", String(ID), nullable=True),
    Column("task_id", String(ID), nullable=True),
    Column("artifact_id", String(ID), nullable=True),
    Column("artifact_name", String(KEY), nullable=True),
    Column("signature", DocumentJsonText(), nullable=False),
    Column("description", Text(), nullable=False),
    Column("unsafe", Boolean(), nullable=False),
    Column("approved", Boolean(), nullable=False),
    Column("approved_by", String(KEY), nullable=True),
    Column("approved_at", UtcDateTime(), nullable=True),
    Column("created_by", String(KEY), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("model_name", "version"),
    Index(None, "run_id"),
    Index(None, "package_digest"),
)


def _version_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["model_name", "version"],
        ["model_versions.model_name", "model_versions.version"],
        ondelete="CASCADE",
    )


model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("model_name", String(KEY), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("key", String(KEY), nullable=False),
    Column("value", Text(), nullable=False),
    PrimaryKeyConstraint("model_name", "version", "key"),
    _version_fk(),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    _model_fk(),
    Column("alias", String(KEY), nullable=False),
    Column("canonical", String(KEY), nullable=False),
    Column("version", Integer(), nullable=True),  # NULL: a protected name that points nowhere yet
    Column("protected", Boolean(), nullable=False),
    Column("updated_by", String(KEY), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("model_name", "alias"),
    Index(None, "model_name", "canonical", unique=True),
)

model_alias_history = Table(
    "model_alias_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    _model_fk(),
    Column("alias", String(KEY), nullable=False),
    Column("action", String(16), nullable=False),
    Column("old_version", Integer(), nullable=True),
    Column("new_version", Integer(), nullable=True),
    Column("user", String(KEY), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index(None, "model_name", "alias", "id"),
)

model_version_lineage = Table(
    "model_version_lineage",
    metadata,
    Column("model_name", String(KEY), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("artifact_id", String(ID), nullable=False),
    Column("name", String(KEY), nullable=False),
    Column("digest", String(128), nullable=False),
    Column("run_id", String(ID), nullable=False),
    Column("task_id", String(ID), nullable=True),
    Column("serializer", String(64), nullable=False),
    Column("depth", Integer(), nullable=False),
    Column("producer_step", String(KEY), nullable=True),
    PrimaryKeyConstraint("model_name", "version", "artifact_id"),
    _version_fk(),
    Index(None, "artifact_id"),
    Index(None, "digest"),
)
