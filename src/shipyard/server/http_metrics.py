"""HTTP metrics of the team server: the outermost ASGI middleware (it sees every answer, the
guard's refusals included).

The route label is the template the guard matched (``scope["state"]["route"]``, set by
:class:`~shipyard.server.auth.GuardMiddleware`), never the raw path: one series per route however
many runs there are. Paths no route serves (and requests refused before routing: 400, 414, 421,
429) count under ``<unmatched>``. Methods outside the HTTP verbs count as ``other``.
The bytes of blob uploads and downloads are counted here too (the routes stream them).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from shipyard.server.platform_metrics import UNMATCHED

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from shipyard.server.platform_metrics import PlatformMetrics

ROUTE_KEY = "route"  # where the guard leaves the matched template in scope["state"]
BLOB_ROUTES = frozenset({"/api/v1/blobs/sha256/{digest}", "/api/v1/blobs/blake3/{digest}"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics: PlatformMetrics | None = None
        if scope["type"] == "http":
            metrics = getattr(scope["app"].state.ctx, "metrics", None)
        if metrics is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        received = sent = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def watching_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        finally:
            route = scope.get("state", {}).get(ROUTE_KEY) or UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "other"
            metrics.observe_http(route, method, f"{status // 100}xx", time.perf_counter() - started)
            if route in BLOB_ROUTES:
                if method == "PUT":
                    metrics.bytes_received.inc(received)
                elif method == "GET" and 200 <= status < 300:  # not an error's JSON
                    metrics.bytes_sent.inc(sent)
