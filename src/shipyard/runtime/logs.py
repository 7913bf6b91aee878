"""Task logs: the ``logs/stdout`` and ``logs/stderr`` artifacts each task records."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.core.entities import Task
from shipyard.core.errors import NotFoundError
from shipyard.runtime.stores import RunStores

_SELECTOR = re.compile(r"^(?P<step>[^/\[]+)(?:/(?P<index>\d+(?:/\d+)*))?$")


@dataclass(frozen=True)
class TaskLogs:
    task: Task
    stdout: bytes
    stderr: bytes


def select_tasks(tasks: list[Task], selector: str | None) -> list[Task]:
    """``None``: every task; ``"square"``: every task of a step; ``"square/3"`` (or ``square[3]``)."""
    if selector is None:
        return tasks
    by_key = [t for t in tasks if t.key == selector]
    if by_key:
        return by_key
    match = _SELECTOR.match(selector)
    if not match:
        raise NotFoundError(f"no task {selector!r}; use STEP or STEP/INDEX (e.g. square/3)")
    step, index = match.group("step"), match.group("index")
    key = step + "".join(f"[{i}]" for i in index.split("/")) if index else None
    found = [t for t in tasks if (t.key == key if key else t.step == step)]
    if not found:
        steps = ", ".join(sorted({t.step for t in tasks})) or "none"
        raise NotFoundError(f"run has no task {selector!r}; steps: {steps}")
    return found


def task_logs(stores: RunStores, run_id: str, selector: str | None = None) -> list[TaskLogs]:
    tasks = select_tasks(stores.metadata.list_tasks(run_id), selector)
    records = stores.metadata.list_artifacts(run_id)
    by_task: dict[tuple[str | None, str], str] = {(r.task_id, r.name): r.digest for r in records}
    out = []
    for task in tasks:
        source = task.id
        if task.reused_from and not any((task.id, n) in by_task for n in ("logs/stdout", "logs/stderr")):
            source = _origin_logs(stores, task.reused_from, by_task)  # cached/reused: the original's logs
        parts = []
        for name in ("logs/stdout", "logs/stderr"):
            digest = by_task.get((source, name))
            parts.append(stores.artifacts.get_bytes(digest, name=f"{task.key} {name}") if digest else b"")
        out.append(TaskLogs(task, parts[0], parts[1]))
    return out


def _origin_logs(stores: RunStores, task_id: str, by_task: dict[tuple[str | None, str], str]) -> str:
    """Add the logs of task ``task_id`` (in whatever run) to ``by_task``; returns its id."""
    try:
        origin = stores.metadata.get_task(task_id)
    except NotFoundError:
        return task_id
    for rec in stores.metadata.list_artifacts(origin.run_id, origin.id):
        by_task[(origin.id, rec.name)] = rec.digest
    return origin.id
