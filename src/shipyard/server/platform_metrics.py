"""Prometheus metrics of the team server itself (``GET /metrics``), in the app's own
``CollectorRegistry`` (never the process-wide default one; made by ``create_app``).

Counted as things happen (each series keeps counting for the process's life):

- ``shipyard_http_requests_total{route,method,code}`` and
  ``shipyard_http_request_duration_seconds{route,method}``: every answer, by route *template*
  (``/api/v1/runs/{run_id}``; ``<unmatched>`` for paths no route serves), method and status class
  (``2xx``..``5xx``) — :mod:`shipyard.server.http_metrics`;
- ``shipyard_metric_points_written_total``: metric points stored through ``POST /runs/{id}/metrics``;
- ``shipyard_artifact_bytes_received_total`` / ``shipyard_artifact_bytes_sent_total``: bytes of
  blob uploads and downloads (``/api/v1/blobs/{sha256,blake3}/{digest}``);
- ``shipyard_task_duration_seconds{flow,step,status}`` (started to ended, observed when a task's
  finishing update arrives) and ``shipyard_task_queue_wait_seconds{flow,step}`` (created — its
  upstreams had finished — to started, observed when its RUNNING update arrives);
- ``shipyard_db_query_duration_seconds{operation}`` / ``shipyard_db_errors_total{kind}``: every
  statement on the metadata database (SQLAlchemy engine events, :mod:`shipyard.server.db_metrics`);
- ``shipyard_monitor_runs_total{source,outcome}``: monitor evaluations, by the server's scheduler
  (``scheduler``) or reported by a client (``api``: ``POST /monitoring/results``), ``ok``,
  ``breached`` or ``error``.

Read when scraped (:mod:`shipyard.server.platform_scrape`): runs and tasks by status, what RUNNING
tasks hold against the host, open alerts per monitor.

Label values that clients choose (flow and step names) are bounded: past ``LABEL_BUDGET`` distinct
pairs, new ones are counted under ``_other``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from shipyard.core.entities import Task
    from shipyard.metadata.base import MetadataStore
    from shipyard.monitoring.monitors import MonitorRun

LABEL_BUDGET = 1000  # distinct (flow, step) label pairs before new ones become "_other"
OTHER = "_other"
UNMATCHED = "<unmatched>"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
# tasks run from seconds to hours; queue waits from milliseconds to hours
_TASK_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0)
_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)


class LabelBudget:
    """Label pairs a client may create: the first ``limit`` distinct ones are kept as they are,
    later ones collapse into ``(_other, _other)`` (a scrape never grows without bound)."""

    def __init__(self, limit: int = LABEL_BUDGET) -> None:
        self.limit = limit
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def __call__(self, first: str, second: str) -> tuple[str, str]:
        pair = (first, second)
        if pair in self._seen:
            return pair
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(pair)
                return pair
        return OTHER, OTHER


class PlatformMetrics:
    """The server's metrics; ``create_app`` makes one per app (``ServerContext.metrics``)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram
        from prometheus_client.process_collector import ProcessCollector

        self.registry: CollectorRegistry = CollectorRegistry()
        reg = self.registry
        ProcessCollector(registry=reg)  # the server process's cpu time, memory, open files
        self.http_requests: Counter = Counter(
            "shipyard_http_requests", "Answered HTTP requests.", ["route", "method", "code"], registry=reg
        )
        self.http_latency: Histogram = Histogram(
            "shipyard_http_request_duration_seconds",
            "Time from request to the answer's last byte.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.metric_points: Counter = Counter(
            "shipyard_metric_points_written", "Metric points stored through the server.", registry=reg
        )
        self.bytes_received: Counter = Counter(
            "shipyard_artifact_bytes_received", "Bytes of artifact blob uploads.", registry=reg
        )
        self.bytes_sent: Counter = Counter(
            "shipyard_artifact_bytes_sent", "Bytes of artifact blob downloads.", registry=reg
        )
        self.task_duration: Histogram = Histogram(
            "shipyard_task_duration_seconds",
            "Task attempts, started to ended, by flow, step and outcome.",
            ["flow", "step", "status"],
            buckets=_TASK_BUCKETS,
            registry=reg,
        )
        self.task_queue_wait: Histogram = Histogram(
            "shipyard_task_queue_wait_seconds",
            "Tasks from created (ready to run) to started, by flow and step.",
            ["flow", "step"],
            buckets=_WAIT_BUCKETS,
            registry=reg,
        )
        self.db_latency: Histogram = Histogram(
            "shipyard_db_query_duration_seconds",
            "Statements on the metadata database, by kind.",
            ["operation"],
            buckets=_DB_BUCKETS,
            registry=reg,
        )
        self.db_errors: Counter = Counter(
            "shipyard_db_errors", "Failed statements on the metadata database.", ["kind"], registry=reg
        )
        self.monitor_runs: Counter = Counter(
            "shipyard_monitor_runs", "Monitor evaluations.", ["source", "outcome"], registry=reg
        )
        self.labels = LabelBudget()
        # labelled children, looked up once (labels() costs more than the observation itself); the
        # keys are bounded: route templates x methods x status classes
        self._http_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        for source in ("scheduler", "api"):
            for outcome in ("ok", "breached", "error"):
                self.monitor_runs.labels(source, outcome)

    def observe_http(self, route: str, method: str, code: str, seconds: float) -> None:
        key = (route, method, code)
        children = self._http_children.get(key)
        if children is None:
            children = (self.http_requests.labels(*key), self.http_latency.labels(route, method))
            self._http_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # ---- hooks the routes call -------------------------------------------------------------------
    def note_task_update(self, metadata: MetadataStore, task: Task, changed_status: bool) -> None:
        """After ``PATCH /tasks/{id}``: a RUNNING update observes the queue wait, a finishing one the
        duration. Never fails the request (the timing read is a courtesy)."""
        if not changed_status:
            return
        from shipyard.core.entities import TaskStatus

        running = task.status is TaskStatus.RUNNING
        if not running and (not task.status.finished or task.started_at is None or task.ended_at is None):
            return
        try:
            timing = metadata.task_timing(task.id)
        except Exception:  # the update itself succeeded; its metric is not worth an error
            return
        flow, step = self.labels((timing.flow_name if timing else None) or "-", task.step)
        if running:
            if timing is not None and task.started_at is not None:
                wait = (task.started_at - timing.created_at).total_seconds()
                self.task_queue_wait.labels(flow, step).observe(max(0.0, wait))
            return
        assert task.started_at is not None and task.ended_at is not None
        duration = (task.ended_at - task.started_at).total_seconds()
        self.task_duration.labels(flow, step, task.status.value).observe(max(0.0, duration))

    def note_monitor_run(self, source: str, run: MonitorRun | None, breached: bool = False) -> None:
        """One monitor evaluation: ``run`` from the scheduler, or ``breached`` for a reported one;
        ``run=None`` with source ``scheduler`` is a failed evaluation."""
        if run is not None:
            breached = any(row.breached for row in run.results)
        self.monitor_runs.labels(source, "breached" if breached else "ok").inc()

    def note_monitor_error(self, source: str, *_: Any) -> None:
        self.monitor_runs.labels(source, "error").inc()
