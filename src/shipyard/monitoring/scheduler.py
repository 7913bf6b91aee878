"""Running monitors on their schedules: :class:`MonitorScheduler` checks every ``tick_s`` which
declared monitors are due (their ``every`` elapsed since their last run in this process; all are due
at start) and runs them. ``shipyard monitor run --loop`` uses it in the foreground; a server starts it
as a background thread (``start()`` / ``stop()``). A failing monitor is logged (and handed to
``on_error``), never fatal."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.monitoring.windows import parse_span

if TYPE_CHECKING:
    from shipyard.monitoring.monitors import MonitorRun
    from shipyard.tracking.stores import Stores

log = logging.getLogger("shipyard.monitoring")


class MonitorScheduler:
    def __init__(
        self,
        stores: Stores,
        *,
        log_dir: str | None = None,
        names: list[str] | None = None,
        tick_s: float = 30.0,
        on_run: Callable[[MonitorRun], Any] | None = None,
        on_error: Callable[[str, BaseException], Any] | None = None,
    ) -> None:
        self.stores = stores
        self.log_dir = log_dir
        self.names = names
        self.tick_s = tick_s
        self.on_run = on_run
        self.on_error = on_error  # a monitor that failed (logged either way)
        self._last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_due(self, clock: float | None = None, now: datetime | None = None) -> list[MonitorRun]:
        """Run the monitors that are due at monotonic time ``clock``; returns their runs."""
        from shipyard.monitoring.monitors import run_monitor
        from shipyard.monitoring.store import MonitoringStore

        clock = time.monotonic() if clock is None else clock
        runs = []
        for spec in MonitoringStore(self.stores).list_monitors():
            name = str(spec["name"])
            if self.names and name not in self.names:
                continue
            every = parse_span(str(spec.get("every", "1h"))).total_seconds()
            last = self._last.get(name)
            if last is not None and clock - last < every:
                continue
            self._last[name] = clock
            try:
                result = run_monitor(self.stores, name, now=now, log_dir=self.log_dir)
            except Exception as exc:
                log.exception("monitor %s failed", name)
                if self.on_error is not None:
                    self.on_error(name, exc)
                continue
            runs.append(result)
            if self.on_run is not None:
                self.on_run(result)
        return runs

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="shipyard-monitors", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            self._stop.wait(self.tick_s)
