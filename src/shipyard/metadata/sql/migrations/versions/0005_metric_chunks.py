"""Metric series as columnar chunks: ``metrics`` (one row per point) becomes ``metric_chunks``.

Existing points are moved: one chunk per (run, key), in the order they were logged. The chunk
layout is described in ``shipyard/metadata/sql/metric_chunks.py``.

Revision ID: 0005_metric_chunks
Revises: 0004_monitoring
"""

from __future__ import annotations

import math

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0005_metric_chunks"
down_revision = "0004_monitoring"
branch_labels = None
depends_on = None

_I8 = np.dtype("<i8")
_F8 = np.dtype("<f8")


def upgrade() -> None:
    chunks = op.create_table(
        "metric_chunks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("steps", sa.LargeBinary(), nullable=False),
        sa.Column("values", sa.LargeBinary(), nullable=False),
        sa.Column("timestamps", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_metric_chunks_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_chunks")),
    )
    with op.batch_alter_table("metric_chunks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_metric_chunks_run_id_key_id"), ["run_id", "key", "id"], unique=False
        )
    _move_points(chunks)
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metrics_run_id_key_step_timestamp"))
    op.drop_table("metrics")


def _move_points(chunks: sa.Table) -> None:
    conn = op.get_bind()
    old = sa.table(
        "metrics",
        sa.column("id"),
        sa.column("run_id"),
        sa.column("key"),
        sa.column("value"),
        sa.column("step"),
        sa.column("timestamp"),
    )
    query = sa.select(old.c.run_id, old.c.key, old.c.value, old.c.step, old.c.timestamp).order_by(
        old.c.run_id, old.c.key, old.c.id
    )
    group: tuple[str, str] | None = None
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int] = []

    def emit() -> None:
        if group is not None and steps:
            conn.execute(
                chunks.insert(),
                {
                    "run_id": group[0],
                    "key": group[1],
                    "count": len(steps),
                    "steps": np.asarray(steps, dtype=_I8).tobytes(),
                    "values": np.asarray(values, dtype=_F8).tobytes(),
                    "timestamps": np.asarray(stamps, dtype=_I8).tobytes(),
                },
            )

    for run_id, key, value, step, stamp in conn.execute(query):
        if (run_id, key) != group:
            emit()
            group, values, steps, stamps = (run_id, key), [], [], []
        values.append(math.nan if value is None else float(value))
        steps.append(int(step))
        stamps.append(int(stamp))
    emit()


def downgrade() -> None:
    points = op.create_table(
        "metrics",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_metrics_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
    )
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_metrics_run_id_key_step_timestamp"),
            ["run_id", "key", "step", "timestamp"],
            unique=False,
        )
    conn = op.get_bind()
    chunks = sa.table(
        "metric_chunks",
        sa.column("id"),
        sa.column("run_id"),
        sa.column("key"),
        sa.column("steps"),
        sa.column("values"),
        sa.column("timestamps"),
    )
    query = sa.select(chunks.c.run_id, chunks.c.key, chunks.c.steps, chunks.c["values"], chunks.c.timestamps)
    for run_id, key, steps, values, stamps in conn.execute(query.order_by(chunks.c.id)).all():
        rows = [
            {"run_id": run_id, "key": key, "value": None if math.isnan(v) else v, "step": s, "timestamp": t}
            for s, v, t in zip(
                np.frombuffer(steps, dtype=_I8).tolist(),
                np.frombuffer(values, dtype=_F8).tolist(),
                np.frombuffer(stamps, dtype=_I8).tolist(),
                strict=True,
            )
        ]
        if rows:
            conn.execute(points.insert(), rows)
    with op.batch_alter_table("metric_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metric_chunks_run_id_key_id"))
    op.drop_table("metric_chunks")
