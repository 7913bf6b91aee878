"""MLflow compatibility tables (Alembic revision 0023_mlflow); see :mod:`shipyard.metadata.mlflow_compat`.

Experiments name namespaces (``namespace`` unique); soft-deleted runs and run inputs point at
``runs`` and go with them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table, Text

from shipyard.metadata.sql.schema import ID, KEY, metadata

mlflow_experiments = Table(
    "mlflow_experiments",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("name", String(KEY), nullable=False, unique=True),
    Column("namespace", String(KEY), nullable=False, unique=True),
    Column("lifecycle_stage", String(16), nullable=False),
    Column("created_ms", BigInteger(), nullable=False),
    Column("updated_ms", BigInteger(), nullable=False),
)

mlflow_experiment_tags = Table(
    "mlflow_experiment_tags",
    metadata,
    Column(
        "experiment_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("mlflow_experiments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(KEY), primary_key=True),
    Column("value", Text(), nullable=False),
)

mlflow_deleted_runs = Table(
    "mlflow_deleted_runs",
    metadata,
    Column("run_id", String(ID), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("deleted_ms", BigInteger(), nullable=False),
)

mlflow_run_inputs = Table(
    "mlflow_run_inputs",
    metadata,
    Column("run_id", String(ID), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("ident", String(64), primary_key=True),  # sha256 of (name, digest, context)
    Column("logged_ms", BigInteger(), nullable=False),
    Column("document", Text(), nullable=False),  # the input as JSON (bounded when logged)
)

mlflow_logged_models = Table(
    "mlflow_logged_models",
    metadata,
    Column("model_id", String(ID), primary_key=True),
    Column("experiment_id", BigInteger(), nullable=False, index=True),
    Column("run_id", String(ID), ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
    Column("name", String(KEY), nullable=False),
    Column("created_ms", BigInteger(), nullable=False),
    Column("document", Text(), nullable=False),  # the rest of the model as JSON
)
