"""What a run's plan tracks per node and per task (:mod:`shipyard.runtime.plan`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.core.entities import TaskStatus
from shipyard.flows.graph import Node


@dataclass
class Slot:
    """One task of the run, as the scheduler tracks it."""

    task_id: str
    key: str
    node: str
    path: tuple[int, ...]
    opts: dict[str, Any]
    attempt: int = 1
    status: TaskStatus = TaskStatus.PENDING
    error: str | None = None
    iteration: int = 0  # a loop task's iteration (1-based); 0 otherwise


@dataclass
class LoopState:
    """A running loop, kept on its body's node state."""

    common: dict[str, dict[str, Any]]  # the body's inputs but the state
    state: dict[str, Any]  # the state input of the next body task
    iteration: int = 0
    phase: str = "body"  # which task comes next: body | until
    last: dict[str, Any] | None = None  # the last body output
    check: dict[str, Any] | None = None  # the last until output, not yet judged
    ready: bool = False  # a task of the loop finished: advance() moves it on


@dataclass
class NodeState:
    node: Node
    state: str = "waiting"  # waiting | running | done | skipped | failed
    value: Any = None  # artifact ref tree once done
    open_tasks: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # task status -> n (progress)
    loop: LoopState | None = None
