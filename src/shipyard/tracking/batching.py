"""Metric points buffered on the caller's thread and written in batches by a background writer.

The per-call path (:meth:`MetricBuffer.add`) does as little as possible: a set lookup for keys it
has already validated, a type check on the value, a timestamp, and a ``deque.append`` of a tuple.
One daemon writer thread per process (:class:`BackgroundWriter`, started on first use) serves every
open buffer: it wakes when a batch is full or every ``flush_interval_s`` and writes up to
``batch_size`` points per ``write`` call (one transaction in the metadata store). The queue is
bounded: when ``max_pending`` points wait, the caller blocks until the writer catches up.

A write that fails is not retried; the error is kept and raised by the next :meth:`flush` or
:meth:`close` (and by :meth:`add` once the queue backs up), so it never vanishes.

NaN and +/-inf values are accepted and stored as they are (see ``shipyard.tracking`` docs).
"""

from __future__ import annotations

import numbers
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shipyard.core.entities import Metric
from shipyard.core.errors import InvalidInputError, ShipyardError, StorageError
from shipyard.core.names import validate_key

MetricWriter = Callable[[Sequence[Metric]], None]

_time_ns = time.time_ns
_new_metric = object.__new__


def make_metric(key: str, value: float, step: int, timestamp: int) -> Metric:
    """A :class:`Metric` without the frozen-dataclass ``__init__`` cost (the fields are checked)."""
    metric = _new_metric(Metric)
    metric.__dict__.update(key=key, value=value, step=step, timestamp=timestamp)
    return metric


def coerce_value(key: str, value: Any) -> float:
    """A metric value as a float; bools and non-numbers are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(
            f"metric {key!r}: value {value!r} ({type(value).__name__}) is not a number; "
            "log an int or float (NaN and +/-inf are allowed)"
        )
    return float(value)


def coerce_int(key: str, what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"metric {key!r}: {what} {value!r} must be an integer")
    return int(value)


class _ClosedQueue:
    """Stands in for the queue once the buffer is closed, so ``add`` needs no closed check."""

    def __init__(self, owner: str) -> None:
        self._owner = owner

    def append(self, item: object) -> None:
        raise InvalidInputError(f"{self._owner} has ended; start a new run to log more metrics")

    def __len__(self) -> int:
        return 0


class BackgroundWriter:
    """One daemon thread that writes the queues of every registered :class:`MetricBuffer`."""

    def __init__(self) -> None:
        self._buffers: dict[int, MetricBuffer] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._planned: float | None = None  # the interval the thread waits for (None: forever)

    def register(self, buffer: MetricBuffer) -> None:
        with self._lock:
            self._buffers[id(buffer)] = buffer
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="shipyard-metrics", daemon=True)
                self._thread.start()
            if self._planned is None or buffer.flush_interval_s < self._planned:
                self._wake.set()  # the thread must wait less than it planned

    def unregister(self, buffer: MetricBuffer) -> None:
        with self._lock:
            self._buffers.pop(id(buffer), None)

    def wake(self) -> None:
        if not self._wake.is_set():  # a plain read; set() takes a lock and is called per point
            self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._lock:
                interval = min((b.flush_interval_s for b in self._buffers.values()), default=None)
                self._planned = interval
            self._wake.wait(interval)
            self._wake.clear()
            with self._lock:  # after the wake: a buffer registered while waiting is drained too
                buffers = list(self._buffers.values())
            for buffer in buffers:
                try:
                    buffer.background_drain()
                except Exception as exc:  # keep the thread alive; the buffer's owner hears of it
                    buffer.record_error(exc)


_shared: tuple[int, BackgroundWriter] | None = None
_shared_lock = threading.Lock()


def shared_writer() -> BackgroundWriter:
    """This process's writer, created on first use (and again in a forked child)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), BackgroundWriter())
        return _shared[1]


class MetricBuffer:
    """Buffers metric points for one run and writes them with ``write`` off the caller's thread."""

    def __init__(
        self,
        write: MetricWriter,
        *,
        batch_size: int = 5000,
        flush_interval_s: float = 1.0,
        max_pending: int | None = None,
        name: str = "run",
        writer: BackgroundWriter | None = None,
    ) -> None:
        self._write = write
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._max_pending = max_pending or batch_size * 20
        self._name = name
        self._keys: set[str] = set()
        self._queue: deque[tuple[str, float, int, int]] = deque()
        self._write_lock = threading.Lock()
        self._last_write = time.monotonic()
        self._error: BaseException | None = None
        self._dropped = 0
        self.batches_written = 0
        self._writer = writer if writer is not None else shared_writer()
        self._writer.register(self)

    @property
    def flush_interval_s(self) -> float:
        return self._interval

    # ---- caller side --------------------------------------------------------------------------
    def add(self, key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
        """Queue one point. Validates the key once per buffer; values must be real numbers."""
        if key not in self._keys:
            self._keys.add(validate_key("metric", key))
        if value.__class__ is not float:
            value = coerce_value(key, value)
        if step.__class__ is not int:
            step = coerce_int(key, "step", step)
        if timestamp is None:
            timestamp = _time_ns() // 1_000_000
        elif timestamp.__class__ is not int:
            timestamp = coerce_int(key, "timestamp", timestamp)
        queue = self._queue
        queue.append((key, value, step, timestamp))
        if len(queue) >= self._batch_size:
            self._batch_full()

    def add_many(self, metrics: Mapping[str, Any], step: int = 0, timestamp: int | None = None) -> None:
        """Queue several points of one step; all are checked before any is queued."""
        checked: list[tuple[str, float]] = []
        for key, value in metrics.items():
            if key not in self._keys:
                self._keys.add(validate_key("metric", key))
            checked.append((key, value if value.__class__ is float else coerce_value(key, value)))
        if step.__class__ is not int:
            step = coerce_int("metrics", "step", step)
        if timestamp is None:
            timestamp = _time_ns() // 1_000_000
        elif timestamp.__class__ is not int:
            timestamp = coerce_int("metrics", "timestamp", timestamp)
        queue = self._queue
        for key, value in checked:
            queue.append((key, value, step, timestamp))
        if len(queue) >= self._batch_size:
            self._batch_full()

    def _batch_full(self) -> None:
        self._writer.wake()
        if len(self._queue) < self._max_pending:
            return
        # back-pressure: the writer is behind; wait for it (and surface its failure).
        while len(self._queue) >= self._max_pending and self._writer.alive:
            self._raise_pending_error()
            self._writer.wake()
            time.sleep(0.001)
        self._raise_pending_error()

    def flush(self) -> None:
        """Write everything queued so far (on this thread), then raise a writer error if any."""
        with self._write_lock:
            self._drain()
        self._raise_pending_error()

    def close(self) -> None:
        """Flush and stop taking points; later ``add`` calls raise. Idempotent."""
        if isinstance(self._queue, deque):
            self._writer.unregister(self)
            try:
                self.flush()
            finally:
                with self._write_lock:
                    self._drain()
                    self._queue = _ClosedQueue(self._name)  # type: ignore[assignment]

    @property
    def pending(self) -> int:
        return len(self._queue)

    # ---- writer side --------------------------------------------------------------------------
    def background_drain(self) -> None:
        """Called by the writer thread: full batches now, a partial one once the interval passed."""
        with self._write_lock:
            due = time.monotonic() - self._last_write >= self._interval
            self._drain(full_batches_only=not due)

    def _drain(self, full_batches_only: bool = False) -> None:
        """Write the queue in batches; caller holds ``_write_lock``."""
        queue = self._queue
        if not isinstance(queue, deque):  # closed
            return
        if not full_batches_only:
            self._last_write = time.monotonic()
        popleft = queue.popleft
        make = make_metric
        size = self._batch_size
        while len(queue) >= (size if full_batches_only else 1):
            n = min(len(queue), size)
            batch = [make(*popleft()) for _ in range(n)]
            try:
                self._write(batch)
                self.batches_written += 1
            except BaseException as exc:  # kept and raised on flush/close, never swallowed
                self._dropped += len(batch)
                self.record_error(exc)

    def record_error(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc

    def _raise_pending_error(self) -> None:
        error, self._error = self._error, None
        if error is None:
            return
        dropped, self._dropped = self._dropped, 0
        message = f"writing metrics of {self._name} failed ({dropped} points not stored): {error}"
        if isinstance(error, ShipyardError):
            raise type(error)(message) from error
        raise StorageError(message) from error
