"""The serving app's one checkpoint (:class:`ServingGuard`), and its JSON error bodies.

For every HTTP request the admission gate lets in (:mod:`shipyard.serving.admission` runs first), in
this order:

1. every answer, errors included, carries ``X-Content-Type-Options: nosniff``;
2. the ``Host`` header must be one the service answers (DNS rebinding): with ``--no-auth`` only
   loopback names (``localhost``, 127.0.0.0/8, ``[::1]``, any port), else ``--allowed-hosts`` when
   set → **421**;
3. ``/health`` and ``/ready`` are open; everything else (``/predict``, ``/feedback``, ``/metrics``,
   ``/docs``, ``/openapi.json``) needs ``Authorization: Bearer <token>``, a platform token
   (``shipyard tokens create``) → **401**. A client address or token prefix that failed
   ``auth_failures`` times in ``auth_window_s`` gets **429** with ``Retry-After`` before its token
   is looked at (:mod:`shipyard.security.throttle`; the address is the connection's peer, never
   ``X-Forwarded-For``);
4. every guarded path needs the ``predict`` permission at the server scope (every built-in role
   has it) and ``/feedback``, which stores labels, needs ``monitor:write`` (developers and up)
   → **403** otherwise. Permissions come from the token's user's bindings (roles as data,
   :mod:`shipyard.security.policy`), narrowed by the token.

Tokens are checked in the platform's token table next to SQL metadata, or, with ``SHIPYARD_URI``
pointing at a shipyard server, by that server (``GET /api/v1/whoami``). Revoked, expired and
disabled-user tokens are refused. Answers are cached for ``token_cache_s`` (at most
:data:`~shipyard.security.tokens.MAX_TOKEN_CACHE_S`, never past the token's expiry), and each
expired entry is checked again, so a revocation reaches the service within that time. When tokens
cannot be checked (the server is down) requests get **503** with ``Retry-After`` and a generic
message (the details go to the service's log only): the service fails closed. Errors answer
``{"error": {"code": ..., "message": ...}}`` like the team server's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard.core.errors import InvalidInputError, StorageError

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

    from shipyard.metadata.security import SecurityStore
    from shipyard.security.throttle import AuthThrottle
    from shipyard.serving.config import ServingConfig
    from shipyard.serving.metrics import ServingMetrics

log = logging.getLogger("shipyard.serving")

OPEN_PATHS = frozenset({"/health", "/ready"})
WRITE_PATHS = frozenset({"/feedback"})  # need monitor:write: they store labels
NOSNIFF = {"X-Content-Type-Options": "nosniff"}


def error_body(code: str, message: str) -> bytes:
    import orjson

    return orjson.dumps({"error": {"code": code, "message": message}})


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    from starlette.responses import Response

    return Response(
        error_body(code, message),
        status_code=status,
        media_type="application/json",
        headers={**NOSNIFF, **(headers or {})},
    )


@dataclass(frozen=True)
class Access:
    """What a valid token may do: its effective permissions at the server scope; ``ttl_s`` bounds
    how long the answer may be cached (the seconds left before the token expires; None: no expiry)."""

    permissions: frozenset[str]
    ttl_s: float | None = None

    @property
    def may_predict(self) -> bool:
        return "predict" in self.permissions

    @property
    def may_write(self) -> bool:
        return "monitor:write" in self.permissions


# a token value -> its access, None when invalid (raises StorageError when it cannot tell)
TokenCheck = Callable[[str], Access | None]


def store_check(security: SecurityStore) -> TokenCheck:
    """Valid when the token's hash is in the security store, active, and its user enabled."""

    def check(value: str) -> Access | None:
        from shipyard.core.clock import utcnow
        from shipyard.security.tokens import hash_token, hashes_equal

        digest = hash_token(value)
        found = security.find_token(digest)
        if found is None:
            return None
        record, user = found
        now = utcnow()
        if not hashes_equal(record.token_hash, digest) or not record.active(now) or user.disabled:
            return None
        left = None if record.expires_at is None else (record.expires_at - now).total_seconds()
        from shipyard.security.policy import resolve_access

        pairs, roles = security.access_rows(user.name)
        narrowed = frozenset(record.permissions) if record.permissions is not None else None
        access = resolve_access(user.name, pairs, roles, token_scope=record.scope, token_permissions=narrowed)
        return Access(access.permissions_at(), left)

    return check


def server_check(base_url: str, timeout_s: float = 5.0) -> TokenCheck:
    """Valid when the shipyard server at ``base_url`` accepts the token (``GET /api/v1/whoami``,
    whose ``permissions`` say what it may do at the server scope): a serving host that points
    SHIPYARD_URI at the team server checks tokens there."""
    import httpx

    client = httpx.Client(base_url=base_url, timeout=timeout_s)

    def check(value: str) -> Access | None:
        try:
            response = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {value}"})
        except httpx.HTTPError as exc:
            raise StorageError(
                f"cannot reach the shipyard server at {base_url} to check a token: {exc}"
            ) from None
        if response.status_code in (401, 403):
            return None
        if response.status_code != 200:
            raise StorageError(f"the shipyard server at {base_url} answered {response.status_code}")
        try:
            granted = response.json().get("permissions")
        except ValueError:
            granted = None
        if not isinstance(granted, list):
            return Access(frozenset())  # an answer we cannot read grants nothing
        return Access(frozenset(p for p in granted if isinstance(p, str)))

    return check


class TokenVerifier:
    """Token value -> :class:`Access` or None, with a short cache: an entry lives ``cache_s`` (at
    most ``MAX_TOKEN_CACHE_S``) and never past the token's expiry; an expired entry is checked
    again, so a revocation takes effect within ``cache_s``."""

    def __init__(self, check: TokenCheck, cache_s: float = 2.0, max_entries: int = 10_000) -> None:
        from shipyard.security.tokens import MAX_TOKEN_CACHE_S

        if not 0 <= cache_s <= MAX_TOKEN_CACHE_S:
            raise InvalidInputError(f"the token cache must be 0 to {MAX_TOKEN_CACHE_S:g} s, not {cache_s:g}")
        self._check = check
        self.cache_s = cache_s
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, Access | None]] = {}

    async def check(self, value: str) -> Access | None:
        """Raises StorageError when the token cannot be checked (never cached)."""
        from shipyard.security.tokens import hash_token, looks_like_token

        if not looks_like_token(value):
            return None
        digest = hash_token(value)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        access = await asyncio.to_thread(self._check, value)
        keep = self.cache_s if access is None or access.ttl_s is None else min(self.cache_s, access.ttl_s)
        if len(self._cache) >= self.max_entries:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
        self._cache[digest] = (now + keep, access)
        return access


def _header(scope: Scope, name: bytes) -> str | None:
    for key, raw in scope.get("headers", ()):
        if key == name:
            return str(raw.decode("latin-1"))
    return None


def _bearer(scope: Scope) -> str | None:
    scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class ServingGuard:
    """ASGI middleware: nosniff, the Host check, tokens, throttling and the write check (above)."""

    def __init__(
        self,
        app: ASGIApp,
        config: ServingConfig,
        verifier: TokenVerifier | None,
        throttle: AuthThrottle | None = None,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.verifier = verifier
        self.throttle = throttle
        self.metrics = metrics

    def _refuse(self, reason: str, response: Response) -> Response:
        if self.metrics is not None:
            self.metrics.reject(reason, response.status_code)
        return response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from shipyard.security.network import host_allowed, nosniff

        send = nosniff(send)
        config = self.config
        checks_host = config.allowed_hosts is not None or not config.auth
        if checks_host and not host_allowed(
            _header(scope, b"host"), config.allowed_hosts, loopback_only=not config.auth
        ):
            message = (
                "this service runs without authentication and answers only loopback host names "
                "(localhost, 127.0.0.1, [::1])"
                if not config.auth
                else "the Host header names a host this service does not answer (see --allowed-hosts)"
            )
            misdirected = error_response(421, "misdirected_request", message)
            await self._refuse("misdirected_request", misdirected)(scope, receive, send)
            return
        if self.verifier is None or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        refused = await self._refusal(scope)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _refusal(self, scope: Scope) -> Response | None:
        assert self.verifier is not None
        client = scope.get("client")
        peer = str(client[0]) if client else None
        token = _bearer(scope)
        if token and self.throttle is not None:
            throttled = self.throttle.check(peer, token)
            if throttled is not None:
                retry = {"Retry-After": str(throttled.retry_after_s)}
                return self._refuse(
                    "too_many_requests", error_response(429, "too_many_requests", throttled.message, retry)
                )
        try:
            access = await self.verifier.check(token) if token else None
        except StorageError as exc:  # fail closed; the details (server URL, cause) only in our log
            log.warning("cannot check an API token: %s", exc)
            message = "the token cannot be checked right now; retry shortly"
            return self._refuse(
                "auth_unavailable", error_response(503, "auth_unavailable", message, {"Retry-After": "5"})
            )
        if access is None:
            if token and self.throttle is not None:
                self.throttle.failed(peer, token)
            message = (
                "a valid API token is required: send 'Authorization: Bearer <token>' (shipyard tokens create)"
            )
            return self._refuse(
                "unauthenticated",
                error_response(401, "unauthenticated", message, {"WWW-Authenticate": "Bearer"}),
            )
        if not access.may_predict:
            message = "this token lacks the predict permission (`shipyard whoami` shows what it has)"
            return self._refuse("permission_denied", error_response(403, "permission_denied", message))
        if scope.get("path") in WRITE_PATHS and not access.may_write:
            path = scope.get("path")
            message = f"{path} stores labels: it needs the monitor:write permission (developers and up)"
            return self._refuse("permission_denied", error_response(403, "permission_denied", message))
        return None
