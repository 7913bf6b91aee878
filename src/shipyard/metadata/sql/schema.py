"""The SQL schema (SQLAlchemy Core). Alembic migrations in ``migrations/versions`` must match it:
``tests/metadata/test_migrations.py`` fails when they drift apart.

Encoding choices:

- Times are :class:`UtcDateTime` (BIGINT microseconds since the epoch); metric timestamps are BIGINT ms.
- Metric points are stored in columnar chunks (``metric_chunks``: one row per key per written
  batch, with packed little-endian step/value/timestamp arrays), so a 100,000-point series is a
  few dozen rows, not 100,000 index entries. The latest value per key (``latest_metrics``, which
  filters read) keeps NaN as NULL: SQLite cannot store NaN, and NULL never satisfies a comparison,
  so ``metrics.x > 0`` never matches NaN on any dialect. +/-inf are stored as they are.
- ``artifacts.task_id`` is ``''`` (not NULL) for run-level artifacts so the unique
  (run_id, task_id, name) constraint holds for them too.
- ``artifacts`` holds a task's outputs: those of its running or succeeded attempt only. When an
  attempt fails (or a new one starts) its records move to ``attempt_artifacts``, kept per attempt
  beside ``task_attempts`` (status, times, error, node of each attempt).
- Params keep their JSON text (``value``) plus a text form (``value_text``) and a numeric form
  (``value_num``) that filters compare against (see :mod:`shipyard.metadata.filters`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from shipyard.metadata.sql.types import DocumentJsonText, JsonText, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
ID = 64  # ids are 32 hex chars; callers may supply their own
KEY = 250  # names and keys (core.names caps them at 250)

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _run_fk() -> Column[str]:
    return Column("run_id", String(ID), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)


runs = Table(
    "runs",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(KEY), nullable=False),
    Column("namespace", String(KEY), nullable=False),
    Column("user", String(KEY), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", UtcDateTime(), nullable=False),
    Column("end_time", UtcDateTime(), nullable=True),
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    Column("flow_name", String(KEY), nullable=True),
    Column("flow_spec", DocumentJsonText(), nullable=True),
    Column("code_version", JsonText(), nullable=True),
    Column("origin_run_id", String(ID), nullable=True),
    Column("error", Text(), nullable=True),
    Index(None, "namespace", "start_time"),
    Index(None, "start_time"),
    Index(None, "flow_name", "start_time"),
    Index(None, "status", "heartbeat_at"),
    # the resume lease: at most one RUNNING run resumes a given origin (atomic on every dialect)
    Index(
        "uq_runs_resuming_origin",
        "origin_run_id",
        unique=True,
        sqlite_where=text("status = 'running' AND origin_run_id IS NOT NULL"),
        postgresql_where=text("status = 'running' AND origin_run_id IS NOT NULL"),
    ),
)

params = Table(
    "params",
    metadata,
    _run_fk(),
    Column("key", String(KEY), nullable=False),
    Column("value", Text(), nullable=False),  # canonical JSON
    Column("value_text", Text(), nullable=False),
    Column("value_num", Float(), nullable=True),
    PrimaryKeyConstraint("run_id", "key"),
)

tags = Table(
    "tags",
    metadata,
    _run_fk(),
    Column("key", String(KEY), nullable=False),
    Column("value", Text(), nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
)

metric_chunks = Table(  # a metric series is stored as columnar chunks (see metric_chunks.py)
    "metric_chunks",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    _run_fk(),
    Column("key", String(KEY), nullable=False),
    Column("count", Integer(), nullable=False),
    Column("steps", LargeBinary(), nullable=False),  # little-endian int64
    Column("values", LargeBinary(), nullable=False),  # little-endian float64 (NaN kept as NaN)
    Column("timestamps", LargeBinary(), nullable=False),  # little-endian int64, ms
    Index(None, "run_id", "key", "id"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    _run_fk(),
    Column("key", String(KEY), nullable=False),
    Column("value", Float(), nullable=True),  # NULL means NaN
    Column("step", BigInteger(), nullable=False),
    Column("timestamp", BigInteger(), nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "key", "value"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(ID), primary_key=True),
    _run_fk(),
    Column("step", String(KEY), nullable=False),
    Column("key", String(KEY), nullable=False),
    Column("index", Integer(), nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("cache_key", String(KEY), nullable=True),
    Column("reused_from", String(ID), nullable=True),
    Column("node", String(KEY), nullable=True),
    Column("spec", DocumentJsonText(), nullable=False),
    Column("created_seq", BigInteger(), nullable=False),  # creation order: insert time (us) * 1000 + position
    UniqueConstraint("run_id", "key"),
    Index(None, "run_id", "created_seq"),
    Index(None, "cache_key", "step"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(ID), primary_key=True),
    _run_fk(),
    Column("task_id", String(ID), nullable=False),  # '' for a run-level artifact
    Column("name", String(KEY), nullable=False),
    Column("digest", String(128), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("serializer", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("unsafe", Boolean(), nullable=False),
    Column("meta", DocumentJsonText(), nullable=False),
    Column("attempt", Integer(), nullable=True),  # the task attempt that wrote it (None: run-level)
    UniqueConstraint("run_id", "task_id", "name"),
    Index(None, "task_id"),
)

task_attempts = Table(  # one row per attempt of a task (revision 0012_attempts)
    "task_attempts",
    metadata,
    Column("task_id", String(ID), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("node", String(KEY), nullable=True),
    PrimaryKeyConstraint("task_id", "attempt"),
)

attempt_artifacts = Table(  # what attempts that did not succeed recorded (moved out of artifacts)
    "attempt_artifacts",
    metadata,
    Column("id", String(ID), primary_key=True),
    _run_fk(),
    Column("task_id", String(ID), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("name", String(KEY), nullable=False),
    Column("digest", String(128), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("serializer", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("unsafe", Boolean(), nullable=False),
    Column("meta", JsonText(), nullable=False),
    Index(None, "task_id", "attempt"),
)

lineage = Table(
    "lineage",
    metadata,
    Column("task_id", String(ID), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("artifact_id", String(ID), ForeignKey("artifacts.id", ondelete="CASCADE"), nullable=False),
    Column("input_name", String(KEY), nullable=False),
    PrimaryKeyConstraint("task_id", "artifact_id", "input_name"),
    Index(None, "artifact_id"),
)

# Other tables on this MetaData live in their own modules: the model registry (revision
# 0002_registry) and users, tokens and audit events (revision 0003_security, owned by the server work).
from shipyard.metadata.sql import branches_schema as _branches  # noqa: E402, F401
from shipyard.metadata.sql import datasets_schema as _datasets  # noqa: E402, F401
from shipyard.metadata.sql import delivery_schema as _delivery  # noqa: E402, F401
from shipyard.metadata.sql import features_schema as _features  # noqa: E402, F401
from shipyard.metadata.sql import idempotency_schema as _idempotency  # noqa: E402, F401
from shipyard.metadata.sql import mlflow_schema as _mlflow  # noqa: E402, F401
from shipyard.metadata.sql import model_registry_schema as _model_registry  # noqa: E402, F401
from shipyard.metadata.sql import monitoring_schema as _monitoring  # noqa: E402, F401
from shipyard.metadata.sql import policies_schema as _policies  # noqa: E402, F401
from shipyard.metadata.sql import schedules_schema as _schedules  # noqa: E402, F401
from shipyard.metadata.sql import secrets_schema as _secrets  # noqa: E402, F401
from shipyard.metadata.sql import security_schema as _security  # noqa: E402, F401
