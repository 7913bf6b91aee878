"""The admission gate: beyond a limit of requests in flight, a prebuilt 503 that costs almost nothing.

Under overload the service used to spend as much on a request it refused as on one it served: a
refused request went through the guard (token hash and cache), the router, the body read, JSON
parsing and signature validation before the full micro-batcher queue refused it. With clients that
retry at once, the refusals took the CPU that admitted requests needed (successful throughput fell
83% at 640 connections, p99 of those admitted 0.5-2.5 s).

The gate counts the requests in flight (admitted, not yet answered). Beyond the limit a request
waits in line (FIFO, at most :data:`HOLD_S`, at most ``8 x limit`` waiting) for a slot that an
answered request hands over; when none comes it gets a prebuilt **503** ``overloaded`` with
``Retry-After`` and a counter increment (``shipyard_serving_rejected_total{reason="overloaded"}``):
no token check, no body read, no Starlette object. The short wait matters as much as the cheap
answer: a client that resends at once after a 503 (a retry storm; wrk) would otherwise spin the
event loop with refusals, and those refusals, cheap as each is, took the CPU the admitted requests
need; a refusal still arrives within tens of milliseconds. One timer per gate (not one per waiting
request) refuses the requests whose wait is over, oldest first.

It runs at two layers, sharing one count:

- under ``shipyard serve`` (uvicorn with httptools), in the HTTP protocol itself
  (:mod:`shipyard.serving.protocol`): a refused request never becomes an ASGI task; its answer is
  one write of constant bytes on the connection, which stays open (keep-alive);
- for any other ASGI server, first thing in the app's ``__call__``
  (:class:`shipyard.serving.app.ServingApp`), before FastAPI's and Starlette's own middleware; a
  request the protocol admitted carries :data:`ADMITTED` in its scope and passes.

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
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})
ADMITTED = "shipyard.admitted"  # scope key: the HTTP protocol admitted this request (and counts it)


def default_limit(max_queue: int, max_batch_size: int) -> int:
    """Requests in flight before new ones are refused: a full queue plus the batch being computed."""
    return max_queue + max_batch_size


HOLD_S = 0.025  # how long a request beyond the limit waits for a slot before its 503
SWEEP_S = 0.002  # the refusals of waits that end this close together go out in one timer callback
WAITING_PER_SLOT = 8  # requests that may wait, per request admitted at once
QUEUE_TARGET_S = 0.025  # standing queueing delay allowed before the limit shrinks (p99 target: 50 ms)
WINDOW_S = 0.1  # how often the limit adapts


class Waiter(Protocol):
    """A request waiting in line for a slot."""

    deadline: float  # loop time when its wait is over

    def admit(self) -> bool:
        """It has a slot (already counted): run it. False when it is gone (the gate uncounts it)."""

    def refuse(self) -> bool:
        """Its wait is over: answer the 503. False when it is gone (nothing answered, not counted)."""


class _Parked:
    """A request waiting inside the ASGI app: its coroutine awaits ``future`` (True: admitted)."""

    __slots__ = ("deadline", "future")

    def __init__(self, future: asyncio.Future[bool]) -> None:
        self.deadline = 0.0
        self.future = future

    def admit(self) -> bool:
        if self.future.done():
            return False
        self.future.set_result(True)
        return True

    def refuse(self) -> bool:
        if self.future.done():
            return False
        self.future.set_result(False)
        return True


class Admission:
    """The gate: the limit, the requests in flight (read by ``/metrics``), the line of requests
    waiting for a slot, the prebuilt refusal (``on_reject`` counts it).

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
        self._waiting: deque[Waiter] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
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
        self._wire: dict[tuple[bool, bool], bytes] = {}
        self._wire_defaults: object = None

    def wire(self, defaults: list[tuple[bytes, bytes]], keep_alive: bool, head: bool) -> bytes:
        """The refusal as HTTP/1.1 bytes: ``defaults`` (the server's own headers, e.g. ``date``)
        first, ``Connection: close`` unless ``keep_alive``, no body for a ``HEAD``. Built once per
        variant and per ``defaults`` list (uvicorn renews it every second for its ``date``)."""
        if defaults is not self._wire_defaults:
            self._wire_defaults = defaults
            self._wire.clear()
        key = (keep_alive, head)
        built = self._wire.get(key)
        if built is None:
            lines = [b"HTTP/1.1 503 Service Unavailable"]
            lines += [name + b": " + value for name, value in [*defaults, *self.headers]]
            if not keep_alive:
                lines.append(b"connection: close")
            built = self._wire[key] = b"\r\n".join([*lines, b"", b"" if head else self.body])
        return built

    def take(self) -> bool:
        """Take a slot if one is free and nobody waits for one (True: counted in ``in_flight``)."""
        if self.in_flight < self.limit and not self._waiting:
            self.in_flight += 1
            return True
        return False

    def wait(self, waiter: Waiter, loop: asyncio.AbstractEventLoop) -> bool:
        """Put ``waiter`` in line for at most ``hold_s``; False when the line is full (refuse now).
        It is later either admitted (:meth:`Waiter.admit`) or refused (:meth:`Waiter.refuse`)."""
        if len(self._waiting) >= self.max_waiting or self.hold_s <= 0:
            return False
        waiter.deadline = loop.time() + self.hold_s
        self._waiting.append(waiter)
        if self.in_flight < self.limit:  # the line held only requests that went away
            self._hand_over()
        if self._sweeper is None and self._waiting:
            self._sweeper = loop.call_at(self._waiting[0].deadline, self._sweep, loop)
        return True

    def release(self) -> None:
        """A request is answered: its slot goes to the first one still waiting, if any."""
        self.in_flight -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        waiting = self._waiting
        while waiting and self.in_flight < self.limit:
            waiter = waiting.popleft()
            self.in_flight += 1
            if not waiter.admit():
                self.in_flight -= 1

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Refuse every request whose wait is over (the line is FIFO: they are at its head)."""
        self._sweeper = None
        now = loop.time()
        waiting = self._waiting
        while waiting and waiting[0].deadline <= now:
            if waiting.popleft().refuse():
                self.on_reject()
        if waiting:
            self._sweeper = loop.call_at(max(waiting[0].deadline, now + SWEEP_S), self._sweep, loop)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Admit ``scope`` into ``app``, or refuse it with the prebuilt 503 (the ASGI layer)."""
        if scope["type"] != "http" or ADMITTED in scope or scope["path"] in EXEMPT_PATHS:
            await app(scope, receive, send)
            return
        if not self.take() and not await self._wait():
            await send({"type": "http.response.start", "status": 503, "headers": self.headers})
            await send({"type": "http.response.body", "body": self.body})
            return
        try:
            await app(scope, receive, send)
        finally:
            self.release()

    async def _wait(self) -> bool:
        """Wait in line for a slot: True once one is handed over (counted); False: refused (counted)."""
        loop = asyncio.get_running_loop()
        parked = _Parked(loop.create_future())
        if not self.wait(parked, loop):
            self.on_reject()
            return False
        try:
            return await parked.future
        except asyncio.CancelledError:
            future = parked.future
            if future.done() and not future.cancelled() and future.result():
                self.release()  # handed a slot just as the request went away
            raise

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
