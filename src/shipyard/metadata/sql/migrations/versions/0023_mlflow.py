"""MLflow compatibility: experiments over namespaces, their tags, soft-deleted runs, run inputs,
logged models.

Tables are defined in ``shipyard/metadata/sql/mlflow_schema.py``.

Revision ID: 0023_mlflow
Revises: 0019_sync
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_mlflow"
down_revision = "0021_branches"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mlflow_experiments",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("namespace", sa.String(length=250), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=16), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlflow_experiments")),
        sa.UniqueConstraint("name", name=op.f("uq_mlflow_experiments_name")),
        sa.UniqueConstraint("namespace", name=op.f("uq_mlflow_experiments_namespace")),
    )
    op.create_table(
        "mlflow_experiment_tags",
        sa.Column("experiment_id", _id(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["mlflow_experiments.id"],
            name=op.f("fk_mlflow_experiment_tags_experiment_id_mlflow_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "key", name=op.f("pk_mlflow_experiment_tags")),
    )
    op.create_table(
        "mlflow_deleted_runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("deleted_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_mlflow_deleted_runs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_mlflow_deleted_runs")),
    )
    op.create_table(
        "mlflow_run_inputs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("ident", sa.String(length=64), nullable=False),
        sa.Column("logged_ms", sa.BigInteger(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_mlflow_run_inputs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "ident", name=op.f("pk_mlflow_run_inputs")),
    )
    op.create_table(
        "mlflow_logged_models",
        sa.Column("model_id", sa.String(length=64), nullable=False),
        sa.Column("experiment_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_mlflow_logged_models_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_mlflow_logged_models")),
    )
    with op.batch_alter_table("mlflow_logged_models", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mlflow_logged_models_experiment_id"), ["experiment_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("mlflow_logged_models")
    op.drop_table("mlflow_run_inputs")
    op.drop_table("mlflow_deleted_runs")
    op.drop_table("mlflow_experiment_tags")
    op.drop_table("mlflow_experiments")
