"""Domain entities shared by every layer: plain frozen dataclasses, no I/O.

Times are timezone-aware UTC ``datetime`` objects, except metric timestamps, which are integer
milliseconds since the epoch (the unit every metric API in the field uses).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The run tag naming the orchestrator (argo, airflow) that drives a run: it owns the run's
#: liveness, so such a run is never failed for a missing heartbeat.
ORCHESTRATOR_TAG = "shipyard.orchestrator"


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self is not RunStatus.RUNNING


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CACHED = "cached"  # outputs reused from an earlier task with the same cache key
    REUSED = "reused"  # outputs reused from the origin run by `resume`
    SKIPPED = "skipped"  # a branch not taken
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (TaskStatus.PENDING, TaskStatus.RUNNING)

    @property
    def ok(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.CACHED, TaskStatus.REUSED, TaskStatus.SKIPPED)


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    step: int = 0
    timestamp: int = 0  # ms since epoch


@dataclass(frozen=True)
class CodeVersion:
    git_commit: str | None = None
    git_dirty: bool | None = None
    source_hash: str | None = None  # sha256 over the flow's source files
    source_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunCreate:
    """What a caller supplies to create a run; the store assigns nothing but defaults."""

    id: str
    name: str
    namespace: str
    user: str
    start_time: datetime
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    flow_name: str | None = None
    flow_spec: dict[str, Any] | None = None  # how a worker imports the flow: file, module, function
    code_version: CodeVersion | None = None
    origin_run_id: str | None = None  # set by `resume`


@dataclass(frozen=True)
class Run:
    id: str
    name: str
    namespace: str
    user: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    heartbeat_at: datetime | None
    params: dict[str, Any]
    tags: dict[str, str]
    metrics: dict[str, float]  # latest value per key
    flow_name: str | None = None
    flow_spec: dict[str, Any] | None = None
    code_version: CodeVersion | None = None
    origin_run_id: str | None = None
    error: str | None = None  # a failed run's reason (the failing task's traceback for flows)

    @property
    def duration_s(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def _repr_html_(self) -> str:
        """A notebook's display of the run (escaped HTML; metric charts: shipyard.notebook.show)."""
        from shipyard.core.reprs import run_html

        return run_html(self)


@dataclass(frozen=True)
class ArtifactRecord:
    """A named, content-addressed output of a run (and of a task, for flows)."""

    id: str
    run_id: str
    name: str
    digest: str  # sha256 hex of the stored bytes
    size: int
    serializer: str  # e.g. "numpy", "parquet", "json", "bytes", "file", "dir", "sklearn", "pickle"
    created_at: datetime
    task_id: str | None = None
    unsafe: bool = False  # True when loading it runs arbitrary code (pickle)
    meta: dict[str, Any] = field(default_factory=dict)
    attempt: int | None = None  # the task attempt that recorded it (set by the store; None: run-level)


@dataclass(frozen=True)
class TaskAttempt:
    """One attempt of a task: its outcome and what it recorded (logs, outputs), kept after a retry.

    Only the succeeding attempt's artifacts are the task's outputs (``list_artifacts``); a failed
    attempt's stay here, to be inspected as attempt N's."""

    task_id: str
    attempt: int
    status: TaskStatus
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    node: str | None = None
    artifacts: list[ArtifactRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Task:
    """One step invocation in a flow run; a mapped step has one task per item (``index``)."""

    id: str
    run_id: str
    step: str
    key: str  # unique within the run, e.g. "square[3]" or "square[3][1]" when nested
    index: int | None = None
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    heartbeat_at: datetime | None = None
    error: str | None = None  # the current attempt's error (cleared when a new attempt starts)
    cache_key: str | None = None
    reused_from: str | None = None  # task id whose outputs this task reuses (cache or resume)
    node: str | None = None  # which machine/worker ran it
    spec: dict[str, Any] = field(default_factory=dict)  # step options, upstream refs, map info

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def _repr_html_(self) -> str:
        from shipyard.core.reprs import task_html

        return task_html(self)


@dataclass(frozen=True)
class LineageEdge:
    """Task ``task_id`` consumed artifact ``artifact_id`` as input ``input_name``."""

    task_id: str
    artifact_id: str
    input_name: str
