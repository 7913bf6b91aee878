"""Task attempts and the resume lease.

- ``task_attempts``: one row per attempt of a task (status, times, error, node).
- ``attempt_artifacts``: the records of attempts that did not succeed, moved out of ``artifacts``
  (a task's outputs are its succeeding attempt's only); ``artifacts.attempt`` names the attempt.
- ``uq_runs_resuming_origin``: a partial unique index, at most one RUNNING run per
  ``origin_run_id`` (one resume of a run at a time, atomic on SQLite and Postgres).

Tables are defined in ``shipyard/metadata/sql/schema.py``.

Revision ID: 0012_attempts
Revises: 0011_idempotency
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_attempts"
down_revision = "0011_idempotency"
branch_labels = None
depends_on = None

_RUNNING = sa.text("status = 'running' AND origin_run_id IS NOT NULL")


# plain ALTER TABLE / CREATE TABLE / CREATE INDEX, never a batch rebuild: on SQLite with foreign
# keys on, dropping the old ``artifacts`` table would cascade-delete every lineage row
def upgrade() -> None:
    op.add_column("artifacts", sa.Column("attempt", sa.Integer(), nullable=True))
    op.create_table(
        "task_attempts",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("node", sa.String(length=250), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_attempts_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "attempt", name=op.f("pk_task_attempts")),
    )
    op.create_table(
        "attempt_artifacts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("serializer", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("unsafe", sa.Boolean(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_attempt_artifacts_run_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_attempt_artifacts_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempt_artifacts")),
    )
    op.create_index(op.f("ix_attempt_artifacts_task_id_attempt"), "attempt_artifacts", ["task_id", "attempt"])
    _fail_duplicate_resumes()
    op.create_index(
        "uq_runs_resuming_origin",
        "runs",
        ["origin_run_id"],
        unique=True,
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    )


def _fail_duplicate_resumes() -> None:
    """Before this revision two resumes of one run could both be RUNNING (often both long dead and
    never reaped); the unique index allows one. Keep the newest, fail the others."""
    runs = sa.table(
        "runs",
        sa.column("id", sa.String()),
        sa.column("origin_run_id", sa.String()),
        sa.column("status", sa.String()),
        sa.column("start_time", sa.BigInteger()),
        sa.column("end_time", sa.BigInteger()),
        sa.column("error", sa.Text()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(runs.c.id, runs.c.origin_run_id)
        .where(runs.c.status == "running", runs.c.origin_run_id.is_not(None))
        .order_by(runs.c.origin_run_id, runs.c.start_time.desc(), runs.c.id.desc())
    ).all()
    seen: set[str] = set()
    losers: list[str] = []
    for run_id, origin in rows:
        if origin in seen:
            losers.append(run_id)
        seen.add(origin)
    if losers:
        conn.execute(
            sa.update(runs)
            .where(runs.c.id.in_(losers))
            .values(
                status="failed",
                end_time=runs.c.start_time,
                error="failed by the upgrade to 0012_attempts: a newer resume of the same run was running",
            )
        )


def downgrade() -> None:
    op.drop_index("uq_runs_resuming_origin", table_name="runs")
    op.drop_index(op.f("ix_attempt_artifacts_task_id_attempt"), table_name="attempt_artifacts")
    op.drop_table("attempt_artifacts")
    op.drop_table("task_attempts")
    op.drop_column("artifacts", "attempt")
