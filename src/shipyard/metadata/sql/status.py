"""Aggregates for the platform's dashboards: runs and tasks by status, what RUNNING tasks hold.

A few ``GROUP BY`` queries, never a row per run. The resources of RUNNING tasks are read inside
the task spec's JSON (``opts.resources``, as :mod:`shipyard.flows.decorators` records them) with
the dialect's JSON operator, one short row per RUNNING task (at most ``RUNNING_LIMIT`` of them), and
added up here: a value that is not a number (a hand-made spec) counts as 0 instead of failing the
query.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal_column, or_, select

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.metadata.base import SUMMARY_NODES, StatusSummary, TaskTiming
from shipyard.metadata.sql.schema import runs, tasks
from shipyard.metadata.sql.types import from_micros

RUNNING_LIMIT = 100_000  # RUNNING tasks read for their resources; more are left out of the sums
_RESOURCES = ("cpu", "memory_mb", "gpu")


def _visible(hidden_projects: Sequence[str]) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    for project in hidden_projects:
        namespace = f"project:{project}"
        conds.append(
            ~or_(runs.c.namespace == namespace, runs.c.namespace.startswith(namespace + "/", autoescape=True))
        )
    return conds


def _resource(conn: Connection, name: str) -> ColumnElement[Any]:
    assert name in _RESOURCES  # a fixed name, never a caller's
    if conn.dialect.name == "postgresql":
        return literal_column(f"(CAST(tasks.spec AS json) #>> '{{opts,resources,{name}}}')")
    return func.json_extract(tasks.c.spec, f"$.opts.resources.{name}")


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def status_summary(conn: Connection, hidden_projects: Sequence[str] = ()) -> StatusSummary:
    hidden = _visible(hidden_projects)
    run_counts = dict.fromkeys((s.value for s in RunStatus), 0)
    query = select(runs.c.status, func.count()).where(*hidden).group_by(runs.c.status)
    for status, count in conn.execute(query):
        run_counts[str(status)] = int(count)

    task_counts = dict.fromkeys((s.value for s in TaskStatus), 0)
    counted = select(tasks.c.status, func.count()).group_by(tasks.c.status)
    if hidden:
        counted = counted.join_from(tasks, runs, tasks.c.run_id == runs.c.id).where(*hidden)
    for status, count in conn.execute(counted):
        task_counts[str(status)] = int(count)

    cols = [_resource(conn, name).label(name) for name in _RESOURCES]
    running = select(tasks.c.node, *cols).where(tasks.c.status == TaskStatus.RUNNING.value)
    if hidden:
        running = running.join_from(tasks, runs, tasks.c.run_id == runs.c.id).where(*hidden)
    cpu = memory = gpu = 0.0
    nodes: dict[str, int] = {}
    for node, row_cpu, row_memory, row_gpu in conn.execute(running.limit(RUNNING_LIMIT)):
        cpu += _number(row_cpu)
        memory += _number(row_memory)
        gpu += _number(row_gpu)
        name = str(node) if node else "-"
        nodes[name] = nodes.get(name, 0) + 1
    busiest = sorted(nodes.items(), key=lambda item: (-item[1], item[0]))[:SUMMARY_NODES]
    return StatusSummary(
        runs_by_status=run_counts,
        tasks_by_status=task_counts,
        running_cpu=cpu,
        running_memory_mb=int(memory),
        running_gpu=int(gpu),
        running_by_node=dict(busiest),
    )


def task_timing(conn: Connection, task_id: str) -> TaskTiming | None:
    query = (
        select(tasks.c.created_seq, runs.c.flow_name)
        .join_from(tasks, runs, tasks.c.run_id == runs.c.id)
        .where(tasks.c.id == task_id)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    # created_seq = insert time in microseconds * 1000 + the task's position in its batch
    return TaskTiming(flow_name=row.flow_name, created_at=from_micros(int(row.created_seq) // 1000))
