"""The executor interface: how the runtime hands tasks to something that runs them.

An executor only moves *task ids* around: every task is run by the single entry point
``shipyard.runtime.task_entry.run_task(run_id, task_id, settings, attempt=...)``, which reads
everything it needs (flow file, step, inputs) from the stores and records the outcome there. The
runtime passes that function to :meth:`Executor.init` (the executors layer sits below the runtime and
never imports it), so a remote executor can call it on another machine, or run
``python -m shipyard.runtime.task_entry RUN_ID TASK_ID`` in a container.

Writing a new executor
----------------------
1. Subclass :class:`Executor` in ``shipyard/executors/<name>.py``:

   - ``init(task_fn, settings)``: start whatever runs tasks (a process pool, a Ray client...).
   - ``can_submit(request)``: whether a task with these resources may start *now* (free worker
     slots and, with :class:`~shipyard.executors.resources.ResourceAccountant`, free cpu/memory/gpu).
   - ``submit(request)``: start it; never block for its end.
   - ``wait(timeout)``: block up to ``timeout`` seconds and return the results that finished. A task
     that crashed, was killed or ran past ``request.timeout_s`` comes back as a failed
     :class:`TaskResult` with ``recorded=False`` (the runtime then records the failure); the
     executor replaces whatever process died.
   - ``check_fits(resources)``: raise :class:`~shipyard.core.errors.FlowError` when a task could
     never run here (asks more than the machine/cluster has).
   - ``finalize()``: stop everything, kill what still runs (also on Ctrl-C); idempotent.
2. Register it in :data:`shipyard.executors.registry.EXECUTORS`.
3. Add its name to the ``executor`` fixture of ``tests/executors/conftest.py``: the contract suite
   (``tests/executors/test_executor_contract.py``) then runs every flow behaviour against it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.flows.decorators import Resources

if TYPE_CHECKING:
    from shipyard.core.settings import Settings


def resources_from_dict(data: dict[str, Any] | None) -> Resources:
    """The step's ``resources`` option as recorded in a task spec."""
    data = data or {}
    return Resources(float(data.get("cpu", 0.0)), int(data.get("memory_mb", 0)), int(data.get("gpu", 0)))


@dataclass(frozen=True)
class TaskRequest:
    run_id: str
    task_id: str
    key: str  # for messages and progress: "square[3]"
    attempt: int  # 1 for the first try
    resources: Resources = field(default_factory=Resources)
    timeout_s: float | None = None


@dataclass(frozen=True)
class TaskResult:
    task_id: str
    attempt: int
    ok: bool
    error: str | None = None
    recorded: bool = True  # the entry point recorded the task's outcome in the metadata store
    payload: dict[str, Any] = field(default_factory=dict)  # what the entry point returned
    node: str | None = None  # which worker/machine ran it


#: The task entry point's shape: ``run_task(run_id, task_id, settings, attempt=N) -> payload``;
#: the payload has ``ok`` (bool), ``error`` (str | None) and entry-point specific fields.
TaskFn = Callable[..., dict[str, Any]]

__all__ = ["Executor", "Resources", "TaskFn", "TaskRequest", "TaskResult", "resources_from_dict"]


class Executor(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    def init(self, task_fn: TaskFn, settings: Settings) -> None:
        """Start the executor; ``task_fn`` is the task entry point to call for each request."""

    @abc.abstractmethod
    def check_fits(self, resources: Resources, what: str) -> None:
        """FlowError naming ``what`` when a task with these resources can never run here."""

    @abc.abstractmethod
    def can_submit(self, request: TaskRequest) -> bool:
        """Whether ``request`` can start now without oversubscribing workers or resources."""

    @abc.abstractmethod
    def submit(self, request: TaskRequest) -> None:
        """Start the task (only after ``can_submit`` said yes)."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> list[TaskResult]:
        """Results of tasks that ended, waiting up to ``timeout`` seconds for at least one."""

    @abc.abstractmethod
    def running(self) -> int:
        """How many submitted tasks have not produced a result yet."""

    @abc.abstractmethod
    def finalize(self) -> None:
        """Stop all workers, killing running tasks. Idempotent."""
