"""Bearer-token authentication for the serving app, and its JSON error bodies.

Tokens are the platform's API tokens (``shipyard tokens create``): the ``Authorization: Bearer``
value is hashed (:mod:`shipyard.security.tokens`) and looked up in the metadata store's token table
(:mod:`shipyard.metadata.security`); revoked, expired and disabled-user tokens are refused. Results
are cached for ``token_cache_s`` (a revocation takes effect within that time). ``/health``,
``/ready``, ``/docs`` and ``/openapi.json`` are open; everything else (``/predict``, ``/metrics``)
needs a token. Errors answer ``{"error": {"code": ..., "message": ...}}`` like the server's.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

    from shipyard.metadata.security import SecurityStore


OPEN_PATHS = frozenset({"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/openapi.json"})


def error_body(code: str, message: str) -> bytes:
    import orjson

    return orjson.dumps({"error": {"code": code, "message": message}})


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    from starlette.responses import Response

    return Response(
        error_body(code, message), status_code=status, media_type="application/json", headers=headers
    )


class TokenVerifier:
    """Token value → valid or not, against the security store, with a short cache."""

    def __init__(self, security: SecurityStore, cache_s: float = 30.0) -> None:
        self.security = security
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, bool]] = {}

    def _lookup(self, digest: str) -> bool:
        from shipyard.core.clock import utcnow
        from shipyard.security.tokens import hashes_equal

        found = self.security.find_token(digest)
        if found is None:
            return False
        record, user = found
        return hashes_equal(record.token_hash, digest) and record.active(utcnow()) and not user.disabled

    async def check(self, value: str) -> bool:
        from shipyard.security.tokens import hash_token, looks_like_token

        if not looks_like_token(value):
            return False
        digest = hash_token(value)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        ok = await asyncio.to_thread(self._lookup, digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self.cache_s, ok)
        return ok


class TokenGuard:
    """ASGI middleware: 401 unless a valid bearer token comes with the request (open paths aside)."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        value = ""
        for key, raw in scope.get("headers", ()):
            if key == b"authorization":
                value = raw.decode("latin-1")
                break
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and await self.verifier.check(token.strip()):
            await self.app(scope, receive, send)
            return
        message = (
            "a valid API token is required: send 'Authorization: Bearer <token>' (shipyard tokens create)"
        )
        body = error_body("unauthenticated", message)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b"Bearer"),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})
