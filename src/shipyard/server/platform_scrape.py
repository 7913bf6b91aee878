"""The part of ``/metrics`` read from the stores and the host when Prometheus scrapes.

One :class:`StoreCollector` per app reads, in a few aggregate queries
(:meth:`MetadataStore.status_summary`, :meth:`MonitoringRecords.open_alert_counts`):

- ``shipyard_runs{status}`` and ``shipyard_tasks{status}``: every run and task by status;
- ``shipyard_executor_running_tasks{node}``: RUNNING tasks per node (busy executor slots; the
  busiest 50 nodes);
- ``shipyard_executor_requested_cpus`` / ``_memory_bytes`` / ``_gpus``: what the steps of RUNNING
  tasks ask for (their ``resources``), against the server host's ``shipyard_host_cpus``,
  ``shipyard_host_memory_bytes``, ``shipyard_host_memory_available_bytes``, ``shipyard_host_gpus``
  and ``shipyard_host_cpu_utilization`` (0..1 since the previous scrape);
- ``shipyard_monitor_open_alerts{monitor}``: open alerts (the 100 monitors with the most).

Bounded in time: the reading runs in its own thread, and a scrape waits for it at most
``timeout_s``; a slower database makes the scrape answer the previous reading
(``shipyard_scrape_store_ok 0``, ``shipyard_scrape_store_age_seconds`` says how old) instead of
failing or piling up readers (one reading at a time). A reading younger than ``cache_s`` is
reused, so several Prometheus servers cost one reading.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from shipyard.metadata.base import StatusSummary
    from shipyard.server.app import ServerContext

log = logging.getLogger("shipyard.server")
MiB = 1024 * 1024


@dataclass(frozen=True)
class HostResources:
    cpus: int
    memory_bytes: int
    memory_available_bytes: int
    gpus: int
    cpu_utilization: float  # 0..1 since the previous reading


@dataclass(frozen=True)
class Reading:
    at: float  # time.monotonic() when it was taken
    seconds: float  # how long it took
    summary: StatusSummary
    open_alerts: dict[str, int]
    host: HostResources


class HostProbe:
    """The server host's cpu, memory and GPUs (GPUs are looked up once: ``nvidia-smi`` is slow)."""

    def __init__(self) -> None:
        self._gpus: int | None = None

    def read(self) -> HostResources:
        import os

        import psutil

        if self._gpus is None:
            from shipyard.executors.resources import detect_gpus

            self._gpus = len(detect_gpus())
        memory = psutil.virtual_memory()
        return HostResources(
            cpus=os.cpu_count() or 1,
            memory_bytes=int(memory.total),
            memory_available_bytes=int(memory.available),
            gpus=self._gpus,
            cpu_utilization=float(psutil.cpu_percent(interval=None)) / 100.0,
        )


class BoundedReader:
    """Takes readings with ``read`` in a thread of its own, one at a time; :meth:`current` waits at
    most ``timeout_s`` for a new one and otherwise answers the last one (or None)."""

    def __init__(self, read: Callable[[], Reading], timeout_s: float, cache_s: float) -> None:
        self._read = read
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._last: Reading | None = None
        self._pending: Future[Reading] | None = None
        self.failures = 0

    def current(self) -> tuple[Reading | None, bool]:
        """(the reading to report, whether it is fresh: taken for this scrape or within cache_s)."""
        with self._lock:
            last = self._last
            if last is not None and time.monotonic() - last.at < self.cache_s:
                return last, True
            pending = self._pending
            if pending is None:
                pending = self._pending = Future()
                pending.set_running_or_notify_cancel()
                threading.Thread(
                    target=self._take, args=(pending,), name="shipyard-metrics-reading", daemon=True
                ).start()
        try:
            return pending.result(timeout=self.timeout_s), True
        except FutureTimeout:
            return self._last, False
        except Exception:
            return self._last, False

    def _take(self, future: Future[Reading]) -> None:
        try:
            reading = self._read()
        except Exception as exc:
            with self._lock:
                self._pending = None
                self.failures += 1
            log.warning("reading the platform metrics failed: %s", exc)
            future.set_exception(exc)
            return
        with self._lock:
            self._last, self._pending = reading, None
        future.set_result(reading)


class StoreCollector:
    """A prometheus_client collector over a :class:`BoundedReader` (registered in the app's registry)."""

    def __init__(self, ctx: ServerContext, timeout_s: float, cache_s: float) -> None:
        self._ctx = ctx
        self._host = HostProbe()
        self.reader = BoundedReader(self._reading, timeout_s, cache_s)

    def _reading(self) -> Reading:
        started = time.monotonic()
        summary = self._ctx.stores.metadata.status_summary()
        alerts = self._ctx.monitoring.open_alert_counts()
        host = self._host.read()
        return Reading(time.monotonic(), time.monotonic() - started, summary, alerts, host)

    def describe(self) -> list[Metric]:
        return []  # registering must not read the database

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        reading, fresh = self.reader.current()
        ok = GaugeMetricFamily(
            "shipyard_scrape_store_ok", "1 when this scrape read the stores in time, else 0 (last reading)."
        )
        ok.add_metric([], 1.0 if fresh and reading is not None else 0.0)
        yield ok
        yield CounterMetricFamily(
            "shipyard_scrape_store_failures", "Readings of the stores that failed.", self.reader.failures
        )
        if reading is None:
            return
        yield GaugeMetricFamily(
            "shipyard_scrape_store_age_seconds",
            "Age of the store reading reported.",
            time.monotonic() - reading.at,
        )
        yield GaugeMetricFamily(
            "shipyard_scrape_store_duration_seconds", "How long the reading took.", reading.seconds
        )
        yield from _summary_families(reading, GaugeMetricFamily)


def _labelled(factory: Any, name: str, doc: str, label: str, values: dict[str, Any]) -> Metric:
    family = factory(name, doc, labels=[label])
    for key, value in values.items():
        family.add_metric([key], float(value))
    result: Metric = family
    return result


def _summary_families(reading: Reading, gauge: Any) -> Iterator[Metric]:
    s, host = reading.summary, reading.host
    yield _labelled(gauge, "shipyard_runs", "Runs by status.", "status", s.runs_by_status)
    yield _labelled(gauge, "shipyard_tasks", "Tasks by status.", "status", s.tasks_by_status)
    yield _labelled(
        gauge, "shipyard_executor_running_tasks", "RUNNING tasks per node.", "node", s.running_by_node
    )
    yield gauge("shipyard_executor_requested_cpus", "CPUs asked for by RUNNING tasks.", s.running_cpu)
    yield gauge(
        "shipyard_executor_requested_memory_bytes",
        "Memory asked for by RUNNING tasks.",
        s.running_memory_mb * MiB,
    )
    yield gauge("shipyard_executor_requested_gpus", "GPUs asked for by RUNNING tasks.", s.running_gpu)
    yield gauge("shipyard_host_cpus", "CPUs of the server host.", host.cpus)
    yield gauge("shipyard_host_memory_bytes", "Memory of the server host.", host.memory_bytes)
    yield gauge(
        "shipyard_host_memory_available_bytes",
        "Memory available on the server host.",
        host.memory_available_bytes,
    )
    yield gauge("shipyard_host_gpus", "GPUs visible to the server host.", host.gpus)
    yield gauge(
        "shipyard_host_cpu_utilization",
        "Server host CPU use since the last reading (0..1).",
        host.cpu_utilization,
    )
    yield _labelled(
        gauge, "shipyard_monitor_open_alerts", "Open alerts per monitor.", "monitor", reading.open_alerts
    )
