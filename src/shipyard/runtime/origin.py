"""What ``resume`` may reuse from the origin run: its succeeded tasks, by key and inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.core.entities import Task, TaskStatus
from shipyard.metadata.base import MetadataStore
from shipyard.runtime.artifacts_io import record_to_ref


@dataclass
class OriginIndex:
    run_id: str
    tasks: dict[str, Task] = field(default_factory=dict)  # key -> ok task
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # task id -> output ref

    @classmethod
    def load(cls, md: MetadataStore, run_id: str) -> OriginIndex:
        index = cls(run_id=run_id)
        for task in md.list_tasks(run_id):
            if task.status.ok and task.status.value != "skipped":
                index.tasks[task.key] = task
        for rec in md.list_artifacts(run_id):
            if rec.task_id is not None and rec.name == "output":
                index.outputs[rec.task_id] = record_to_ref(rec)
        return index

    def lookup(self, key: str, input_key: str) -> tuple[Task, dict[str, Any]] | None:
        """The origin's task with this key whose inputs were the same, and its output."""
        task = self.tasks.get(key)
        if task is None or task.spec.get("input_key") != input_key:
            return None
        out = self.outputs.get(task.id)
        if out is None:
            return None
        return task, out


#: An orchestrated run's artifact ``orchestrator/NODE`` lists the tasks of NODE left to run.
EXPANDED_PREFIX = "orchestrator/"


@dataclass
class Recorded:
    """The task rows a run has so far, by key, and their outputs: an orchestrated run's plan is
    rebuilt from them in every process (:mod:`shipyard.runtime.orchestrated`)."""

    tasks: dict[str, Task] = field(default_factory=dict)  # key -> task
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # task id -> output ref
    expanded: set[str] = field(default_factory=set)  # nodes expanded (an empty fan-out has no row)

    @classmethod
    def load(cls, md: MetadataStore, run_id: str) -> Recorded:
        found = cls()
        for task in md.list_tasks(run_id):
            found.tasks[task.key] = task
        for rec in md.list_artifacts(run_id):
            if rec.task_id is not None and rec.name == "output":
                found.outputs[rec.task_id] = record_to_ref(rec)
            elif rec.task_id is None and rec.name.startswith(EXPANDED_PREFIX):
                found.expanded.add(rec.name.removeprefix(EXPANDED_PREFIX))
        return found

    @property
    def nodes(self) -> set[str]:
        return {task.step for task in self.tasks.values()} | self.expanded

    def done(self, key: str) -> tuple[Task, dict[str, Any]] | None:
        """The recorded task with this key if it finished with an output, and that output."""
        task = self.tasks.get(key)
        if task is None or not task.status.ok or task.status is TaskStatus.SKIPPED:
            return None
        out = self.outputs.get(task.id)
        return None if out is None else (task, out)
