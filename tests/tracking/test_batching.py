"""MetricBuffer on its own: batching, flushing, error surfacing, back-pressure, validation."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence

import pytest

from shipyard.core.entities import Metric
from shipyard.core.errors import InvalidInputError, StorageError
from shipyard.tracking.batching import MetricBuffer


class SpyWriter:
    def __init__(self, fail: bool = False, delay: float = 0.0) -> None:
        self.batches: list[list[Metric]] = []
        self.threads: set[str] = set()
        self.fail = fail
        self.delay = delay

    def __call__(self, batch: Sequence[Metric]) -> None:
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise OSError("disk full")
        self.batches.append(list(batch))

    @property
    def points(self) -> list[Metric]:
        return [m for b in self.batches for m in b]


def test_many_calls_become_few_batches_written_off_the_callers_thread() -> None:
    spy = SpyWriter()
    buf = MetricBuffer(spy, batch_size=1000, flush_interval_s=10)
    for i in range(10_000):
        buf.add("loss", float(i), i)
    deadline = time.monotonic() + 5  # full batches are the writer's job: give it the chance
    while len(spy.points) < 10_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    buf.close()
    assert len(spy.points) == 10_000
    assert [m.step for m in spy.points] == list(range(10_000))  # order kept
    assert 10 <= len(spy.batches) <= 12
    assert all(len(b) <= 1000 for b in spy.batches)
    assert spy.threads == {"shipyard-metrics"}  # not one batch written on the caller's thread


def test_timer_flushes_a_partial_batch() -> None:
    spy = SpyWriter()
    buf = MetricBuffer(spy, batch_size=1000, flush_interval_s=0.05)
    buf.add("acc", 0.5)
    deadline = time.monotonic() + 5
    while not spy.points and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [m.value for m in spy.points] == [0.5]
    buf.close()


def test_flush_writes_everything_queued() -> None:
    spy = SpyWriter()
    buf = MetricBuffer(spy, batch_size=100_000, flush_interval_s=60)
    for i in range(250):
        buf.add("x", i, step=i, timestamp=1000 + i)
    buf.flush()
    assert len(spy.points) == 250
    assert spy.points[3] == Metric("x", 3.0, 3, 1003)
    buf.close()


def test_writer_error_surfaces_on_flush_and_is_not_swallowed() -> None:
    buf = MetricBuffer(SpyWriter(fail=True), batch_size=10, flush_interval_s=60, name="run r1")
    for i in range(25):
        buf.add("x", i)
    with pytest.raises(StorageError, match=r"run r1.*25 points not stored.*disk full"):
        buf.flush()
    buf.flush()  # reported once
    buf.close()


def test_close_raises_a_pending_error_and_later_adds_fail() -> None:
    buf = MetricBuffer(SpyWriter(fail=True), batch_size=10, flush_interval_s=60)
    buf.add("x", 1.0)
    with pytest.raises(StorageError):
        buf.close()
    with pytest.raises(InvalidInputError, match="has ended"):
        buf.add("x", 2.0)


def test_queue_is_bounded_caller_waits_for_a_slow_writer() -> None:
    spy = SpyWriter(delay=0.02)
    buf = MetricBuffer(spy, batch_size=10, flush_interval_s=60, max_pending=50)
    for i in range(300):
        buf.add("x", i)
        assert buf.pending <= 50 + 1
    buf.close()
    assert len(spy.points) == 300


def test_nan_and_inf_are_kept_as_floats() -> None:
    spy = SpyWriter()
    buf = MetricBuffer(spy)
    buf.add("a", float("nan"))
    buf.add("b", float("inf"))
    buf.add("c", -math.inf)
    buf.close()
    values = [m.value for m in spy.points]
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf


@pytest.mark.parametrize("key", ["../up", "/abs", "a\x00b", "tab\there", "", "a//b", "C:/x", 3])
def test_bad_keys_are_rejected_before_anything_is_queued(key: object) -> None:
    spy = SpyWriter()
    buf = MetricBuffer(spy)
    with pytest.raises(InvalidInputError):
        buf.add(key, 1.0)  # type: ignore[arg-type]
    buf.close()
    assert spy.points == []


@pytest.mark.parametrize("value", ["1.0", None, True, [1.0], object()])
def test_non_numbers_are_rejected(value: object) -> None:
    buf = MetricBuffer(SpyWriter())
    with pytest.raises(InvalidInputError, match="not a number"):
        buf.add("x", value)  # type: ignore[arg-type]
    assert buf.pending == 0
    buf.close()


def test_numpy_values_and_steps_are_converted() -> None:
    np = pytest.importorskip("numpy")
    spy = SpyWriter()
    buf = MetricBuffer(spy)
    buf.add("x", np.float32(0.5), np.int64(3))
    buf.add("y", np.int64(2))
    buf.close()
    assert spy.points[0].value == 0.5 and type(spy.points[0].value) is float
    assert spy.points[0].step == 3 and type(spy.points[0].step) is int
    assert spy.points[1].value == 2.0


def test_add_many_checks_everything_before_queueing() -> None:
    spy = SpyWriter()
    buf = MetricBuffer(spy)
    with pytest.raises(InvalidInputError):
        buf.add_many({"a": 1.0, "b/../c": 2.0})
    with pytest.raises(InvalidInputError):
        buf.add_many({"a": 1.0, "b": "high"})
    assert buf.pending == 0
    buf.add_many({"a": 1, "b": 2.5}, step=3, timestamp=7)
    buf.close()
    assert spy.points == [Metric("a", 1.0, 3, 7), Metric("b", 2.5, 3, 7)]


def test_a_buffer_registered_while_the_writer_waits_is_drained_by_the_writer() -> None:
    """The wake that announces a new buffer must not be spent on an older list of buffers."""
    first = MetricBuffer(SpyWriter(), batch_size=10, flush_interval_s=60)  # the process's writer
    time.sleep(0.05)  # the writer thread now waits with [first]
    spy = SpyWriter()
    second = MetricBuffer(spy, batch_size=10, flush_interval_s=60)
    for i in range(10):  # one full batch, announced while the register-wake is still set
        second.add("x", float(i), i)
    deadline = time.monotonic() + 5
    while not spy.points and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(spy.points) == 10 and "MainThread" not in spy.threads
    first.close()
    second.close()
