"""Bearer-token authentication for the serving app, and its JSON error bodies.

Tokens are the platform's API tokens (``shipyard tokens create``). With SQL metadata the
``Authorization: Bearer`` value is hashed (:mod:`shipyard.security.tokens`) and looked up in the
token table (:mod:`shipyard.metadata.security`); with ``SHIPYARD_URI`` pointing at a shipyard
server, the server checks it (``GET /api/v1/whoami``). Revoked, expired and disabled-user tokens
are refused; results are cached for ``token_cache_s`` (a revocation takes effect within that time).
When tokens cannot be checked (the server is down) requests get 503 with ``Retry-After``: the
service fails closed. ``/health``, ``/ready``, ``/docs`` and ``/openapi.json`` are open; everything
else (``/predict``, ``/metrics``) needs a token. Errors answer ``{"error": {"code": ...,
"message": ...}}`` like the server's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from shipyard.core.errors import StorageError

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


TokenCheck = Callable[[str], bool]  # a presented token value -> valid (may raise StorageError)


def store_check(security: SecurityStore) -> TokenCheck:
    """Valid when the token's hash is in the security store, active, and its user enabled."""

    def check(value: str) -> bool:
        from shipyard.core.clock import utcnow
        from shipyard.security.tokens import hash_token, hashes_equal

        digest = hash_token(value)
        found = security.find_token(digest)
        if found is None:
            return False
        record, user = found
        return hashes_equal(record.token_hash, digest) and record.active(utcnow()) and not user.disabled

    return check


def server_check(base_url: str, timeout_s: float = 5.0) -> TokenCheck:
    """Valid when the shipyard server at ``base_url`` accepts the token (``GET /api/v1/whoami``):
    a serving host that points SHIPYARD_URI at the team server checks tokens there."""
    import httpx

    client = httpx.Client(base_url=base_url, timeout=timeout_s)

    def check(value: str) -> bool:
        try:
            response = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {value}"})
        except httpx.HTTPError as exc:
            raise StorageError(
                f"cannot reach the shipyard server at {base_url} to check a token: {exc}"
            ) from None
        if response.status_code in (401, 403):
            return False
        if response.status_code != 200:
            raise StorageError(f"the shipyard server at {base_url} answered {response.status_code}")
        return True

    return check


class TokenVerifier:
    """Token value -> valid or not, with a short cache (a revocation takes effect within it)."""

    def __init__(self, check: TokenCheck, cache_s: float = 30.0) -> None:
        self._check = check
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, bool]] = {}

    async def check(self, value: str) -> bool:
        """Raises StorageError when the token cannot be checked (never cached)."""
        from shipyard.security.tokens import hash_token, looks_like_token

        if not looks_like_token(value):
            return False
        digest = hash_token(value)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        ok = await asyncio.to_thread(self._check, value)
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
        try:
            valid = scheme.lower() == "bearer" and await self.verifier.check(token.strip())
        except StorageError as exc:  # fail closed, and say so: the caller may retry
            await error_response(503, "auth_unavailable", str(exc), {"Retry-After": "5"})(
                scope, receive, send
            )
            return
        if valid:
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
