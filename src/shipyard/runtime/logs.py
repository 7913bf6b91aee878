"""Task logs: the ``logs/stdout`` and ``logs/stderr`` artifacts each task attempt records.

A task's own logs are its succeeding (or running) attempt's; a failed attempt's logs stay in the
attempt history (``MetadataStore.list_task_attempts``). :func:`log_records` picks what to show:
attempt N's when asked, else the task's own, else (a failed task) its last attempt's."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.core.entities import ArtifactRecord, Task
from shipyard.core.errors import NotFoundError
from shipyard.metadata.base import MetadataStore
from shipyard.runtime.stores import RunStores

_SELECTOR = re.compile(r"^(?P<step>[^/\[]+)(?:/(?P<index>\d+(?:/\d+)*))?$")


LOG_NAMES = ("logs/stdout", "logs/stderr")


@dataclass(frozen=True)
class TaskLogs:
    task: Task
    stdout: bytes
    stderr: bytes
    attempt: int | None = None  # the attempt these logs are from (None: no attempt of its own)


def log_records(
    metadata: MetadataStore, task: Task, attempt: int | None = None, names: tuple[str, ...] = LOG_NAMES
) -> tuple[int | None, dict[str, ArtifactRecord]]:
    """(attempt, {name: record}) of the logs (or other per-attempt records: ``names``) to show for
    ``task``: attempt ``attempt``'s when given (NotFoundError naming the attempts there are), else
    the task's own records, else the last attempt's (a failed task's own records are empty: its
    attempts keep them)."""
    if attempt is None:
        own = {a.name: a for a in metadata.list_artifacts(task.run_id, task.id) if a.name in names}
        if own or task.status.ok or task.attempts == 0:
            return (task.attempts or None), own
    history = metadata.list_task_attempts(task.id)
    if not history:
        if attempt is not None:
            raise NotFoundError(f"task {task.key} has no recorded attempts")
        return None, {}
    chosen = history[-1] if attempt is None else next((h for h in history if h.attempt == attempt), None)
    if chosen is None:
        numbers = ", ".join(str(h.attempt) for h in history)
        raise NotFoundError(f"task {task.key} has no attempt {attempt}; its attempts: {numbers}")
    return chosen.attempt, {a.name: a for a in chosen.artifacts if a.name in names}


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


def task_logs(
    stores: RunStores, run_id: str, selector: str | None = None, attempt: int | None = None
) -> list[TaskLogs]:
    """The logs of the selected tasks (see :func:`log_records`; ``attempt``: that attempt's)."""
    tasks = select_tasks(stores.metadata.list_tasks(run_id), selector)
    out = []
    for task in tasks:
        number, records = log_records(stores.metadata, task, attempt)
        digests = {name: rec.digest for name, rec in records.items()}
        if task.reused_from and not digests and attempt is None:
            by_task: dict[tuple[str | None, str], str] = {}
            source = _origin_logs(stores, task.reused_from, by_task)  # cached/reused: the original's logs
            digests = {name: by_task[(source, name)] for name in LOG_NAMES if (source, name) in by_task}
        parts = []
        for name in LOG_NAMES:
            digest = digests.get(name)
            parts.append(stores.artifacts.get_bytes(digest, name=f"{task.key} {name}") if digest else b"")
        out.append(TaskLogs(task, parts[0], parts[1], number))
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
