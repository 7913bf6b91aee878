"""The metadata-store interface.

Writing a new backend
---------------------
Subclass :class:`MetadataStore`, implement every abstract method, and register a factory for your
URI scheme in :mod:`shipyard.metadata.registry`. Then add your backend to the ``metadata_uri``
fixture in ``tests/contract/conftest.py``: the same contract suite (``tests/contract/test_metadata*``
and ``test_references_contract.py``) runs over every backend (SQLite, Postgres, REST), and a
backend is done when it passes.

Rules every backend keeps:

- Unknown ids raise :class:`~shipyard.core.errors.NotFoundError` naming the id.
- Params are write-once: logging the same value again is a no-op; another value raises
  :class:`~shipyard.core.errors.ConflictError` and writes nothing (the whole batch is refused).
- Param values are JSON values (str, int, float, bool, None, lists, dicts) and come back typed.
- Metric values are floats; NaN and +/-inf are stored and returned as such (the tracking layer
  documents this rule); ``Run.metrics`` holds the latest value per key (highest step, then latest
  timestamp).
- ``search_runs`` filter strings use :mod:`shipyard.metadata.filters`; they are compiled to
  parameterized queries, never formatted into SQL.
- Every method is safe to call from several threads; the store is cheap to share.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.core.entities import (
    ArtifactRecord,
    LineageEdge,
    Metric,
    Run,
    RunCreate,
    RunStatus,
    Task,
    TaskAttempt,
    TaskStatus,
)
from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:  # numpy is imported where chunks are read, not with the store
    import numpy as np
    from numpy.typing import NDArray

METRIC_PAGE_DEFAULT = 10_000  # points per metric-history page unless a caller asks for fewer/more
METRIC_PAGE_MAX = 100_000  # the most one page may hold
LIST_PAGE_DEFAULT = 1000  # rows per page of the server's lists (tasks, artifacts, lineage, monitors)
LIST_PAGE_MAX = 10_000


def check_page(limit: int | None, offset: int) -> None:
    """InvalidInputError unless ``limit`` is None (everything) or >= 0 and ``offset`` >= 0."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidInputError(f"limit must be a whole number of rows, 0 or more, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(f"offset must be 0 or more, got {offset!r}")


@dataclass(frozen=True)
class MetricPage:
    metrics: list[Metric]  # in the order they were logged
    next_page_token: str | None  # pass back as ``page_token`` for the next page; None at the end


@dataclass(frozen=True)
class MetricColumnsPage:
    """One series' page as parallel columns (no object per point): bulk readers, e.g. an import
    comparing what it wrote."""

    values: list[float]
    steps: list[int]
    timestamps: list[int]
    next_page_token: str | None


@dataclass(frozen=True)
class MetricChunk:
    """Some points of one series as parallel numpy columns, as the backend stored them (arrays
    over its packed bytes, read-only): a bulk reader's unit."""

    key: str
    values: NDArray[np.float64]
    steps: NDArray[np.int64]
    timestamps: NDArray[np.int64]


@dataclass(frozen=True)
class MetricChunksPage:
    """A few of a run's metric chunks, every key's, in the order they were written."""

    chunks: list[MetricChunk]
    next_page_token: str | None  # pass back as ``page_token``; None at the end


METRIC_CHUNKS_PER_PAGE = 16  # chunks per :meth:`MetadataStore.get_run_metric_chunks` page


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    next_offset: int | None  # pass back as ``offset`` to get the next page; None at the end
    total: int | None = None  # number of matching runs when the backend can count cheaply


SUMMARY_NODES = 50  # at most this many nodes in StatusSummary.running_by_node (the busiest)


@dataclass(frozen=True)
class StatusSummary:
    """Counts a platform dashboard (the server's ``/metrics``) reads at once, from cheap aggregates.

    ``running_cpu``/``running_memory_mb``/``running_gpu`` add up the ``resources`` that the steps of
    RUNNING tasks ask for (what executors hold for them); ``running_by_node`` counts RUNNING tasks
    per node (the busiest ``SUMMARY_NODES``; the rest are left out)."""

    runs_by_status: dict[str, int]  # every RunStatus value, 0 when none
    tasks_by_status: dict[str, int]  # every TaskStatus value, 0 when none
    running_cpu: float = 0.0
    running_memory_mb: int = 0
    running_gpu: int = 0
    running_by_node: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskTiming:
    """What the server's task histograms label and measure an update with."""

    flow_name: str | None  # the task's run's flow
    created_at: datetime  # when the task was created (it was ready to run: its upstreams had finished)


class MetadataStore(abc.ABC):
    """Runs, params, metrics, tags, artifacts records, tasks and lineage."""

    # ---- lifecycle -------------------------------------------------------------------------
    def backing_store(self) -> MetadataStore:
        """The store that owns the database: this one, or for a front that answers part of the
        interface itself (:class:`~shipyard.metadata.sqlite_store.SqliteRunStore`) the store
        behind it. Stores that live beside the metadata (branches, secrets...) are built on it."""
        return self

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. Idempotent."""

    # ---- runs ------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(self, run: RunCreate) -> Run:
        """Create a run in status RUNNING with its initial params and tags; returns it.

        A run with ``origin_run_id`` (a resume) takes that origin's resume lease: while another
        RUNNING run resumes the same origin this is a ConflictError naming that run. The lease
        ends when the holder finishes or is failed as stale (``fail_stale_runs``)."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with its params, tags and latest metrics; NotFoundError if absent."""

    @abc.abstractmethod
    def find_run_ids(self, prefix: str, limit: int = 2) -> list[str]:
        """Run ids starting with ``prefix`` (lets people type a short id)."""

    @abc.abstractmethod
    def finish_run(self, run_id: str, status: RunStatus, end_time: datetime, error: str | None = None) -> Run:
        """Set a terminal status. Finishing an already-finished run keeps the first outcome."""

    @abc.abstractmethod
    def heartbeat_run(self, run_id: str) -> None:
        """Record that the process owning a RUNNING run is alive, at the store's own time."""

    @abc.abstractmethod
    def fail_stale_runs(self, timeout_s: float) -> list[str]:
        """Mark FAILED every RUNNING run whose last heartbeat (or creation) is more than
        ``timeout_s`` seconds old, and its unfinished tasks FAILED; return the run ids.

        Liveness is judged on ONE clock, the store's (the database's for SQL, the server's store
        for REST): ``create_run`` and ``heartbeat_run`` stamp the store's time, and the age is
        taken against the store's time, so neither the beating nor the reading client's clock
        matters."""

    @abc.abstractmethod
    def search_runs(  # noqa: PLR0917
        self,
        namespaces: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 100,
        offset: int = 0,
        flow_name: str | None = None,
        statuses: Sequence[RunStatus] | None = None,
        *,
        hidden_projects: Sequence[str] = (),
    ) -> RunPage:
        """Runs matching all the given conditions, newest first unless ``order_by`` says
        otherwise (``"metrics.acc DESC"``, ``"params.lr"``, ``"start_time ASC"``, ``"name"``).
        ``namespaces=None`` means every namespace; runs of ``hidden_projects`` (namespaces
        ``project:NAME`` and ``project:NAME/...``) are left out (the server hides private projects)."""

    def count_runs(
        self,
        namespaces: Sequence[str] | None = None,
        filter: str | None = None,
        flow_name: str | None = None,
        statuses: Sequence[RunStatus] | None = None,
        *,
        hidden_projects: Sequence[str] = (),
    ) -> int:
        """How many runs ``search_runs`` with these conditions would return in all (added for the
        UI's page counts). This default pages through ``search_runs``; backends count in one query."""
        total, offset = 0, 0
        while True:
            page = self.search_runs(
                namespaces, filter, (), 1000, offset, flow_name, statuses, hidden_projects=hidden_projects
            )
            total += len(page.runs)
            if page.next_offset is None:
                return total
            offset = page.next_offset

    @abc.abstractmethod
    def status_summary(self, *, hidden_projects: Sequence[str] = ()) -> StatusSummary:
        """Runs and tasks by status and what RUNNING tasks hold (see :class:`StatusSummary`), in a
        few aggregate queries; runs (and their tasks) of ``hidden_projects`` are left out."""

    def task_timing(self, task_id: str) -> TaskTiming | None:
        """The task's flow and creation time, or None when unknown or when this backend cannot
        tell cheaply (this default). Used for the server's queue-wait and duration histograms."""
        return None

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Delete a run and everything recorded under it (not the artifact blobs)."""

    @abc.abstractmethod
    def referenced_digests(self) -> set[str]:
        """Every blob digest the metadata points at: artifacts, model packages, model lineage and
        reference profiles (what blob garbage collection must keep)."""

    # ---- params, metrics, tags -----------------------------------------------------------
    @abc.abstractmethod
    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Write-once params (see module doc)."""

    @abc.abstractmethod
    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Append a batch of metric points in one transaction and update the latest values."""

    @abc.abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, ordered by step then timestamp (ties in the order logged)."""

    @abc.abstractmethod
    def get_metric_history_page(
        self, run_id: str, key: str, *, limit: int = METRIC_PAGE_DEFAULT, page_token: str | None = None
    ) -> MetricPage:
        """At most ``limit`` (1..METRIC_PAGE_MAX) points of one metric in the order they were
        logged, from where ``page_token`` (a previous page's ``next_page_token``) left off.
        InvalidInputError for a limit out of range or a token this backend did not issue."""

    def log_metric_columns(
        self,
        run_id: str,
        keys: Sequence[str],
        values: Sequence[float],
        steps: Sequence[int],
        timestamps: Sequence[int],
    ) -> None:
        """Append points given as parallel columns (point i is ``keys[i], values[i], ...``) in one
        transaction, like :meth:`log_metrics` (bulk writers: no object per point where the backend
        can avoid it). This default builds the points and calls :meth:`log_metrics`."""
        self.log_metrics(
            run_id, [Metric(k, v, s, t) for k, v, s, t in zip(keys, values, steps, timestamps, strict=True)]
        )

    def get_metric_columns_page(
        self, run_id: str, key: str, *, limit: int = METRIC_PAGE_DEFAULT, page_token: str | None = None
    ) -> MetricColumnsPage:
        """:meth:`get_metric_history_page` as parallel columns (same order, same tokens). This
        default converts that page."""
        page = self.get_metric_history_page(run_id, key, limit=limit, page_token=page_token)
        pts = page.metrics
        return MetricColumnsPage(
            [m.value for m in pts], [m.step for m in pts], [m.timestamp for m in pts], page.next_page_token
        )

    def get_run_metric_chunks(self, run_id: str, *, page_token: str | None = None) -> MetricChunksPage | None:
        """Every point of every metric of the run, a page of at most METRIC_CHUNKS_PER_PAGE chunks
        at a time in the order they were written (one query a page, whatever the run's keys: an
        import reading a whole run back). None where the backend has no such read (this default):
        read each key with :meth:`get_metric_columns_page`. NotFoundError for an unknown run."""
        return None

    @abc.abstractmethod
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set or overwrite tags."""

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; NotFoundError if the run has no such tag."""

    # ---- artifacts ---------------------------------------------------------------------------
    @abc.abstractmethod
    def record_artifact(self, artifact: ArtifactRecord) -> ArtifactRecord:
        """Record a named output. The name is unique per (run, task); recording the same name
        with the same digest again returns the existing record, another digest is a ConflictError
        -- except for a task that is pending or running: its attempt may record the name again,
        and the record (same id, so lineage holds) takes the new value. A task's record carries
        the task's current attempt number (``ArtifactRecord.attempt``, set by the store); one
        recorded for a failed or cancelled task (a late write of its ended attempt) goes to that
        attempt's history (``list_task_attempts``), never to the task's outputs."""

    @abc.abstractmethod
    def list_artifacts(
        self, run_id: str, task_id: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[ArtifactRecord]:
        """Artifacts of a run (all of them), or of one task when ``task_id`` is given, in the order
        recorded; ``limit``/``offset`` take one page of that list (None: to the end)."""

    @abc.abstractmethod
    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        """One artifact record by id."""

    @abc.abstractmethod
    def find_artifact(self, run_id: str, name: str, task_id: str | None = None) -> ArtifactRecord:
        """By name within a run (run-level artifact when ``task_id`` is None)."""

    # ---- tasks and lineage ---------------------------------------------------------------
    @abc.abstractmethod
    def create_tasks(self, tasks: Sequence[Task]) -> None:
        """Insert tasks (one transaction). A duplicate (run_id, key) is an AlreadyExistsError."""

    @abc.abstractmethod
    def get_task(self, task_id: str) -> Task:
        """One task."""

    @abc.abstractmethod
    def list_tasks(self, run_id: str, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        """Every task of a run, in creation order (``limit``/``offset``: one page of it)."""

    @abc.abstractmethod
    def update_task(
        self,
        task_id: str,
        *,
        status: TaskStatus | None = None,
        attempts: int | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        heartbeat_at: datetime | None = None,
        error: str | None = None,
        reused_from: str | None = None,
        node: str | None = None,
        cache_key: str | None = None,
    ) -> Task:
        """Change the given fields (None leaves a field as it is); returns the task."""

    @abc.abstractmethod
    def list_task_attempts(self, task_id: str) -> list[TaskAttempt]:
        """Every attempt of a task, in order, each with the artifacts it recorded (its logs and
        outputs). ``update_task`` keeps this history: status RUNNING starts attempt ``attempts``
        (clearing the task's error and end time), SUCCEEDED/FAILED/CANCELLED end it. A task's
        own artifacts (``list_artifacts``, ``find_artifact``) are only its running or succeeded
        attempt's: a failed or cancelled attempt's records are found here only."""

    @abc.abstractmethod
    def record_lineage(self, edges: Sequence[LineageEdge]) -> None:
        """Record that tasks consumed artifacts (idempotent)."""

    @abc.abstractmethod
    def task_inputs(self, task_id: str, *, limit: int | None = None, offset: int = 0) -> list[LineageEdge]:
        """What one task consumed (``limit``/``offset``: one page of it)."""

    @abc.abstractmethod
    def artifact_consumers(
        self, artifact_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[LineageEdge]:
        """Which tasks consumed an artifact (``limit``/``offset``: one page of it)."""

    @abc.abstractmethod
    def find_cached_task(self, namespace: str, step: str, cache_key: str) -> Task | None:
        """The most recent SUCCEEDED task of ``step`` in a run of ``namespace`` with this cache key."""
