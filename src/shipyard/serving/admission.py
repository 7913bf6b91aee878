"""The admission gate: the outermost ASGI layer of the serving app, so refusing costs almost nothing.

Under overload the service used to spend as much on a request it refused as on one it served: a
refused request went through the guard (token hash and cache), the router, the body read, JSON
parsing and signature validation before the full micro-batcher queue refused it, and the JSON 503
was rendered per request. With clients that retry at once, the refusals took the CPU that admitted
requests needed (successful throughput fell 83% at 640 connections, p99 of those admitted
0.5-2.5 s).

The gate runs before all of that: first thing in the app's ``__call__``
(:class:`shipyard.serving.app.ServingApp`), before FastAPI's and Starlette's own middleware, the
guard and the router. It counts the requests in flight (admitted, not yet answered). Beyond the
limit a request waits in line (FIFO, at most :data:`HOLD_S`, at most ``8 x limit`` waiting) for a
slot that an answered request hands over; when none comes it gets a prebuilt **503**
``overloaded`` with ``Retry-After``: two ASGI messages of constant bytes, no token check, no body
read, no Starlette object, a counter increment
(``shipyard_serving_rejected_total{reason="overloaded"}``). The short wait matters as much as the
cheap answer: a client that resends at once after a 503 (a retry storm; wrk) would otherwise spin
the event loop with refusals, and those refusals, cheap as each is, took the CPU the admitted
requests need; a refusal still arrives within tens of milliseconds.

The limit is at most what the micro-batchers can hold (``max_queue`` waiting requests plus one
batch being computed, ``max_batch_size``; ``--max-in-flight`` sets it) and at least one batch; in
between it follows the queueing delay the admitted requests see (:class:`Admission`), so they are
answered within tens of milliseconds (never past their ``timeout_s`` deadline, 504).
``/health`` and ``/ready`` bypass the gate (probes must see a live service under load), and so does
``/metrics`` (the counters are what an operator reads during an overload).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})


def default_limit(max_queue: int, max_batch_size: int) -> int:
    """Requests in flight before new ones are refused: a full queue plus the batch being computed."""
    return max_queue + max_batch_size


HOLD_S = 0.025  # how long a request beyond the limit waits for a slot before its 503
WAITING_PER_SLOT = 8  # requests that may wait, per request admitted at once
QUEUE_TARGET_S = 0.025  # standing queueing delay allowed before the limit shrinks (p99 target: 50 ms)
WINDOW_S = 0.1  # how often the limit adapts


class Admission:
    """The gate: the limit, the requests in flight (read by ``/metrics``), the prebuilt refusal
    (``on_reject`` counts it).

    The limit adapts between ``floor`` and ``ceiling`` with CoDel's signal (as a router's queue
    does): the time admitted requests wait in the micro-batcher's queue before the model takes them
    (:meth:`observe`). Every :data:`WINDOW_S`, if even the shortest wait of the window was over
    :data:`QUEUE_TARGET_S`, a queue is standing: the limit shrinks by a quarter; otherwise it grows
    by an eighth. Requests in flight divided by throughput is how long each waits (Little's law),
    so a fixed limit holds latency for one speed of machine and model only; this one follows the
    throughput the service really has.
    """

    def __init__(
        self,
        ceiling: int,
        retry_after_s: int,
        on_reject: Callable[[], None] = lambda: None,
        *,
        floor: int = 1,
        hold_s: float = HOLD_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from shipyard.serving.guard import error_body

        if ceiling < 1:
            raise ValueError("the admission limit must be at least 1")
        self.ceiling = ceiling
        self.floor = max(1, min(floor, ceiling))
        self.limit = ceiling
        self.in_flight = 0
        self.on_reject = on_reject
        self.hold_s = hold_s
        self.max_waiting = WAITING_PER_SLOT * ceiling
        self._waiting: deque[asyncio.Future[bool]] = deque()
        self._window_min = float("inf")
        self._window_end = clock() + WINDOW_S
        body = error_body("overloaded", "the server is at capacity; retry shortly")
        self.body = body
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry_after_s).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Admit ``scope`` into ``app``, or refuse it with the prebuilt 503."""
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await app(scope, receive, send)
            return
        waiting = self._waiting
        while waiting and waiting[0].done():  # gone: their hold expired
            waiting.popleft()
        if self.in_flight < self.limit and not waiting:
            self.in_flight += 1
        elif not await self._wait():
            self.on_reject()
            await send({"type": "http.response.start", "status": 503, "headers": self.headers})
            await send({"type": "http.response.body", "body": self.body})
            return
        try:
            await app(scope, receive, send)
        finally:
            self._release()

    async def _wait(self) -> bool:
        """Wait in line at most ``hold_s`` for a slot: True once one is handed over (counted)."""
        if len(self._waiting) >= self.max_waiting or self.hold_s <= 0:
            return False
        loop = asyncio.get_running_loop()
        slot: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(slot)
        timer = loop.call_later(self.hold_s, _expire, slot)
        try:
            return await slot
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled() and slot.result():
                self._release()  # handed a slot just as the request went away
            raise
        finally:
            timer.cancel()

    def _release(self) -> None:
        """A request is answered: its slot goes to the first one still waiting, if any."""
        self.in_flight -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        waiting = self._waiting
        while waiting and self.in_flight < self.limit:
            slot = waiting.popleft()
            if not slot.done():
                slot.set_result(True)
                self.in_flight += 1

    def observe(self, waited_s: float, now: float) -> None:
        """The model took a request that waited ``waited_s`` in its queue (``now``: monotonic)."""
        self._window_min = min(self._window_min, waited_s)
        if now < self._window_end:
            return
        if self._window_min > QUEUE_TARGET_S:
            self.limit = max(self.floor, self.limit - max(1, self.limit // 4))
        elif self.limit < self.ceiling:
            self.limit = min(self.ceiling, self.limit + max(1, self.limit // 8))
            self._hand_over()
        self._window_min = float("inf")
        self._window_end = now + WINDOW_S


def _expire(slot: asyncio.Future[bool]) -> None:
    if not slot.done():
        slot.set_result(False)
