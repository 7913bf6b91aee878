"""The admission gate: the outermost ASGI layer of the serving app, so refusing costs almost nothing.

Under overload the service used to spend as much on a request it refused as on one it served: a
refused request went through the guard (token hash and cache), the router, the body read, JSON
parsing and signature validation before the full micro-batcher queue refused it, and the JSON 503
was rendered per request. With clients that retry at once, the refusals took the CPU that admitted
requests needed (successful throughput fell 83% at 640 connections, p99 of those admitted
0.5-2.5 s).

The gate runs before all of that. It counts the requests in flight (admitted, not yet answered);
while ``limit`` are in flight, a new request gets a prebuilt **503** ``overloaded`` with
``Retry-After`` at once: two ASGI messages made of constant bytes, no token check, no body read, no
Starlette object, a counter increment (``shipyard_serving_rejected_total{reason="overloaded"}``).
The limit defaults to what the micro-batchers can hold: ``max_queue`` waiting requests plus one
batch being computed (``max_batch_size``), so an admitted request waits at most a bounded queue and
its ``timeout_s`` deadline (504) as before, while everything beyond is refused in microseconds.
``/health`` and ``/ready`` bypass the gate (probes must see a live service under load), and so does
``/metrics`` (the counters are what an operator reads during an overload).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})


def default_limit(max_queue: int, max_batch_size: int) -> int:
    """Requests in flight before new ones are refused: a full queue plus the batch being computed."""
    return max_queue + max_batch_size


class Admission:
    """The gate's state, shared with ``/metrics``: the limit, the requests in flight, the prebuilt
    refusal (``on_reject`` counts it)."""

    def __init__(self, limit: int, retry_after_s: int, on_reject: Callable[[], None] = lambda: None) -> None:
        from shipyard.serving.guard import error_body

        if limit < 1:
            raise ValueError("the admission limit must be at least 1")
        self.limit = limit
        self.in_flight = 0
        self.on_reject = on_reject
        body = error_body("overloaded", "the server is at capacity; retry shortly")
        self.body = body
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry_after_s).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]


class AdmissionGate:
    """ASGI middleware (added last, so outermost of the app's own): at most ``admission.limit``
    requests in flight; the rest get the prebuilt 503 + ``Retry-After``."""

    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.admission
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if gate.in_flight >= gate.limit:
            gate.on_reject()
            await send({"type": "http.response.start", "status": 503, "headers": gate.headers})
            await send({"type": "http.response.body", "body": gate.body})
            return
        gate.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            gate.in_flight -= 1
