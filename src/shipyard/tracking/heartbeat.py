"""Heartbeats: a RUNNING run proves its process is alive; runs whose heartbeat lapsed are failed.

:class:`Heartbeat` calls ``metadata.heartbeat_run(run_id)`` every
``settings.heartbeat_interval_s``, on one daemon thread per process (:class:`HeartbeatThread`).
When the process dies (SIGKILL, ``os._exit``, a lost machine) the heartbeats stop, and the next
reader — :meth:`StaleRunReaper.maybe_reap`, called by the tracking client before it reads runs, or
``shipyard runs gc`` — marks every RUNNING run whose last heartbeat is older than
``settings.heartbeat_timeout_s`` FAILED. Both sides use the metadata store's clock (the store
stamps each beat and measures the age), never this process's: a client whose clock is off by
minutes is neither failed while alive nor kept RUNNING after it died.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from shipyard.metadata.base import MetadataStore

log = logging.getLogger(__name__)


class Heartbeat:
    """Beats for one run, on the process's shared heartbeat thread, until :meth:`stop`."""

    def __init__(self, metadata: MetadataStore, run_id: str, interval_s: float) -> None:
        self.metadata = metadata
        self.run_id = run_id
        self.interval_s = interval_s
        self.next_due = time.monotonic() + interval_s
        self.failures = 0
        self._pulse: HeartbeatThread | None = None

    def start(self) -> Heartbeat:
        self._pulse = shared_pulse()
        self._pulse.add(self)
        return self

    def beat(self) -> None:
        try:
            self.metadata.heartbeat_run(self.run_id)
        except Exception as exc:  # a missed beat is not fatal; the next one may succeed
            self.failures += 1
            log.warning("heartbeat for run %s failed: %s", self.run_id, exc)

    def stop(self) -> None:
        """No beat for this run starts after this returns."""
        if self._pulse is not None:
            self._pulse.remove(self)
            self._pulse = None


class HeartbeatThread:
    """One daemon thread that beats every registered :class:`Heartbeat` when it is due."""

    def __init__(self) -> None:
        self._beats: dict[int, Heartbeat] = {}
        self._lock = threading.Lock()  # held while beating, so remove() waits for a beat in flight
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._planned: float | None = None  # when the thread plans to wake (monotonic; None: never)

    def add(self, heartbeat: Heartbeat) -> None:
        with self._lock:
            self._beats[id(heartbeat)] = heartbeat
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="shipyard-heartbeat", daemon=True)
                self._thread.start()
            if self._planned is None or heartbeat.next_due < self._planned:
                self._wake.set()  # due before the thread planned to wake

    def remove(self, heartbeat: Heartbeat) -> None:
        with self._lock:
            self._beats.pop(id(heartbeat), None)

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                for heartbeat in list(self._beats.values()):
                    if heartbeat.next_due <= now:
                        heartbeat.beat()
                        heartbeat.next_due = now + heartbeat.interval_s
                next_due = min((h.next_due for h in self._beats.values()), default=None)
                self._planned = next_due
            timeout = None if next_due is None else max(0.0, next_due - time.monotonic())
            self._wake.wait(timeout)
            self._wake.clear()


_shared: tuple[int, HeartbeatThread] | None = None
_shared_lock = threading.Lock()


def shared_pulse() -> HeartbeatThread:
    """This process's heartbeat thread, created on first use (and again in a forked child)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), HeartbeatThread())
        return _shared[1]


class StaleRunReaper:
    """Fails runs whose heartbeat lapsed, at most once every ``min_gap_s`` (reads stay cheap)."""

    def __init__(self, metadata: MetadataStore, timeout_s: float, min_gap_s: float = 1.0) -> None:
        self._metadata = metadata
        self._timeout = timeout_s
        self._min_gap = min_gap_s
        self._last = 0.0

    def maybe_reap(self) -> list[str]:
        now = time.monotonic()
        if now - self._last < self._min_gap:
            return []
        self._last = now
        return self.reap()

    def reap(self) -> list[str]:
        return self._metadata.fail_stale_runs(self._timeout)
