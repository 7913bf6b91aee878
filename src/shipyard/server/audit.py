"""The audit trail's writer: events are queued by the guard and written in batches by one thread,
off the request path (a mutation's answer does not wait for its audit row).

Events reach the database within ``interval_s``; :meth:`AuditLog.flush` waits until every queued
event is written (the ``/api/v1/audit`` route calls it, and so does the server on shutdown). If a
write fails, the events stay queued and are retried with the next batch; the error is logged.
"""

from __future__ import annotations

import logging
import threading

from shipyard.metadata.security import AuditEvent, SecurityStore

log = logging.getLogger("shipyard.server.audit")


class AuditLog:
    def __init__(self, store: SecurityStore, interval_s: float = 0.2, max_batch: int = 1000) -> None:
        self._store = store
        self._interval = interval_s
        self._max_batch = max_batch
        self._pending: list[AuditEvent] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def record(self, event: AuditEvent) -> None:
        with self._lock:
            self._pending.append(event)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="shipyard-audit", daemon=True)
                self._thread.start()
        if len(self._pending) >= self._max_batch:
            self._wake.set()

    def flush(self) -> None:
        """Write every queued event now (raises the store's error if the write fails)."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                self._store.record_audit(batch)
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch  # keep them, in order, for the next attempt
                raise

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("cannot write audit events; they stay queued")
