"""Adaptive micro-batching: concurrent requests for one version become one model call.

Each request is a :class:`Pending` (its columns, row count and a future). The loop takes the first
waiting request, then everything else already queued; while the batch is under ``max_batch_size``
rows and more requests are on their way (``arriving()``: received, not yet queued) it waits for
them, at most ``max_wait_ms`` — so a lone request never waits. One input is built for the whole
batch and the model runs in the batcher's own thread, so the event loop keeps accepting requests; while the
model runs, new requests queue up and form the next batch (batches grow with load). Each caller
gets its own slice of the outputs, in order. If a multi-request batch fails, its requests are
retried one by one so that one bad request cannot fail the others.

How long each batch's oldest request waited goes to ``on_wait`` (the admission gate adapts its
limit to it, :mod:`shipyard.serving.admission`). The queue is bounded (``max_queue`` requests):
:meth:`MicroBatcher.submit` raises :class:`Overloaded` at once when it is full, and the app answers
503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.models import Variant


class Overloaded(Exception):
    """The version's queue is full."""


Result = tuple[list[Any], list[list[float]] | None]


@dataclass
class Pending:
    columns: dict[str, list[Any]]
    rows: int
    future: asyncio.Future[Result] = field(repr=False)
    queued: float = 0.0  # time.monotonic() when it was queued


class MicroBatcher:
    def __init__(
        self,
        variant: Variant,
        metrics: ServingMetrics,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        arriving: Callable[[], int] = lambda: 0,
        on_wait: Callable[[float, float], None] | None = None,
    ) -> None:
        self.arriving = arriving
        self.on_wait = on_wait  # (seconds the batch's oldest request waited, now): admission.py
        self.variant = variant
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._queue: asyncio.Queue[Pending] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"shipyard-model-{variant.label}")
        self._depth = metrics.queue_depth.labels(variant.label)
        self._rows_hist = metrics.batch_rows.labels(variant.label)
        self._reqs_hist = metrics.batch_requests.labels(variant.label)

    def start(self) -> None:
        self._queue = asyncio.Queue(self.max_queue)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batcher-{self.variant.label}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def submit(self, columns: dict[str, list[Any]], rows: int) -> asyncio.Future[Result]:
        """Queue one request; its future resolves to (predictions, probabilities)."""
        assert self._queue is not None, "the batcher is not started"
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(Pending(columns, rows, future, time.monotonic()))
        except asyncio.QueueFull:
            raise Overloaded from None
        self._depth.set(self._queue.qsize())
        return future

    async def _collect(self, queue: asyncio.Queue[Pending]) -> list[Pending]:
        batch = [await queue.get()]
        rows = batch[0].rows
        deadline = time.monotonic() + self.max_wait_s
        while rows < self.max_batch_size:
            if queue.empty():
                if self.arriving() <= 0 or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.0002)  # let the requests being read reach the queue
                continue
            item = queue.get_nowait()
            batch.append(item)
            rows += item.rows
        self._depth.set(queue.qsize())
        if self.on_wait is not None:
            now = time.monotonic()
            self.on_wait(now - batch[0].queued, now)
        return [p for p in batch if not p.future.done()]  # timed-out callers are gone

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect(self._queue)
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self._call, batch)
            except Exception as exc:
                if len(batch) == 1:
                    _fail(batch[0], exc)
                    continue
                for pending in batch:  # isolate the bad request
                    try:
                        one = await loop.run_in_executor(self._executor, self._call, [pending])
                        _resolve(pending, one[0])
                    except Exception as exc:
                        _fail(pending, exc)
                continue
            for pending, result in zip(batch, results, strict=True):
                _resolve(pending, result)

    def _call(self, batch: list[Pending]) -> list[Result]:
        """In the model thread: one input for the batch, one predict, split per caller."""
        import numpy as np

        if len(batch) == 1:
            columns = batch[0].columns
        else:
            columns = {name: [v for p in batch for v in p.columns[name]] for name in batch[0].columns}
        total = sum(p.rows for p in batch)
        self._rows_hist.observe(total)
        self._reqs_hist.observe(len(batch))
        with np.errstate(all="ignore"):
            preds, proba = self.variant.predict(self.variant.frame(columns))
        out: list[Result] = []
        start = 0
        for p in batch:
            end = start + p.rows
            out.append((preds[start:end], proba[start:end] if proba is not None else None))
            start = end
        return out


def _resolve(pending: Pending, result: Result) -> None:
    if not pending.future.done():
        pending.future.set_result(result)


def _fail(pending: Pending, exc: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)
