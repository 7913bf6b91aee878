"""The one place requests are checked: path canonical form, route permission, token, body limits,
content type, and the audit event of every mutation.

:class:`GuardMiddleware` is a plain ASGI middleware (it never buffers responses, so streamed
downloads stay streamed). For each HTTP request it first refuses (:mod:`shipyard.server.edge`) a
``Host`` the server does not answer (421) and a client or token prefix with too many failed
authentications (429; every token that fails below is counted there), then:

1. refuses non-canonical paths (``..``/``.`` segments, ``//``, backslashes, NUL, percent-encoded
   ``.``, ``/``, ``\\`` or NUL) with 400;
2. finds the route and its :class:`~shipyard.server.permissions.Rule` in ``app.state.permissions``;
   a route missing from the table is refused with 403 (deny by default); unknown paths need a
   valid token before they get a 404;
3. authenticates ``Authorization: Bearer <token>`` (or, for GET/HEAD only, the web UI's
   ``shipyard_token`` cookie — never for mutations, so cross-site forms cannot act) → 401; the
   principal's :class:`~shipyard.security.policy.Access` comes from its bindings (and its groups'),
   narrowed by the token;
4. checks the access grants the rule's permission somewhere → 403, and, for a rule that names a
   resource, the per-object decision of :mod:`shipyard.server.access` (scope, ownership, four
   eyes, protected aliases) → 403;
5. for JSON routes: 415 unless the body is ``application/json``; 413 past ``max_json_bytes``;
6. after a mutation (POST/PUT/PATCH/DELETE; not the POSTs that only read, ``QUERY_POSTS``: MLflow's
   searches), or any request refused with 403, queues an audit
   event: user, time, route, path, status (:mod:`shipyard.server.audit` writes them in batches,
   off the request path). A 403 for a narrowed token (a machine token) also says what the token
   is limited to (:func:`with_narrowing`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException

from shipyard.core.errors import HTTP_STATUS, PermissionDeniedError, ShipyardError, StorageError
from shipyard.server.permissions import AUTHENTICATED, PUBLIC, QUERY_POSTS, Rule, required_rule
from shipyard.server.route_match import match_route, methods_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from shipyard.metadata.security import TokenRecord
    from shipyard.security.policy import Access
    from shipyard.server.app import ServerContext


MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# raw bytes, limits checked in the route
STREAM_ROUTES = frozenset(
    {
        "/api/v1/blobs/sha256/{digest}",
        "/api/v1/blobs/blake3/{digest}",
        "/api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}",
    }
)
TOKEN_COOKIE = "shipyard_token"  # noqa: S105 - a cookie name
_BAD_ENCODED = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
BRANCH_HEADER = b"x-shipyard-branch"  # the branch a client acts on (Settings.branch)
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def with_narrowing(message: str, access: Access) -> str:
    """A refusal's message, plus what the presented token is limited to when it is narrowed (so a
    machine token used outside its scope says the scope it has beside the one it needed)."""
    narrowing = access.narrowing()
    if narrowing is None or narrowing in message:
        return message
    return f"{message}; {narrowing}"


def refusal_detail(message: str) -> str:
    """An audit event's detail for a refusal (the message holds names and scopes, never secrets)."""
    import orjson

    return orjson.dumps({"refused": message}).decode()


@dataclass(frozen=True)
class Principal:
    name: str
    access: Access
    token_id: str | None  # None when the server runs with --no-auth

    def can(self, permission: str) -> bool:
        """At the server scope (what a server-wide action such as managing users needs)."""
        return self.access.can(permission)


class _TooLarge(HTTPException):
    """Raised from ``receive`` when a body passes the limit; FastAPI re-raises HTTP exceptions, so
    the error handlers answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is over the limit of {limit} bytes")


class Authenticator:
    """Token value → :class:`Principal`, with a short cache (cleared on any revocation)."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._private: tuple[float, frozenset[str]] | None = None

    def clear(self) -> None:
        self._cache.clear()
        self._private = None

    def cached(self, value: str) -> tuple[bool, Principal | None]:
        """(hit, principal) from the token cache alone: no database, so the event loop may call it
        and skip the worker-thread hop of :meth:`authenticate` (most requests of a busy client)."""
        from shipyard.security.tokens import hash_token, looks_like_token

        if not looks_like_token(value):
            return True, None
        hit = self._cache.get(hash_token(value))
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def authenticate(self, value: str) -> Principal | None:
        from shipyard.core.clock import utcnow
        from shipyard.security.tokens import hash_token, hashes_equal, looks_like_token

        if not looks_like_token(value):
            return None
        digest = hash_token(value)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        assert self.ctx.security is not None
        found = self.ctx.security.find_token(digest)
        principal: Principal | None = None
        if found is not None:
            record, user = found
            if hashes_equal(record.token_hash, digest) and record.active(utcnow()) and not user.disabled:
                principal = Principal(user.name, self.access_of(user.name, user.kind, record), record.id)
                if record.expires_at is not None:  # never cache past the expiry
                    left = (record.expires_at - utcnow()).total_seconds()
                    now = now - max(0.0, self.ctx.config.token_cache_s - left)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self.ctx.config.token_cache_s, principal)
        return principal

    def access_of(self, user: str, kind: str, record: TokenRecord | None = None) -> Access:
        from shipyard.security.policy import resolve_access

        assert self.ctx.security is not None
        pairs, roles = self.ctx.security.access_rows(user)
        narrowed = record.permissions if record is not None else None
        return resolve_access(
            user,
            pairs,
            roles,
            kind=kind,
            token_scope=record.scope if record is not None else None,
            token_permissions=frozenset(narrowed) if narrowed is not None else None,
            private_projects=self.private_projects(),
            token_actions=record.actions if record is not None else None,
        )

    def private_projects(self) -> frozenset[str]:
        """The private projects, re-read at most every ``token_cache_s`` (and on any change here)."""
        now = time.monotonic()
        if self._private is None or self._private[0] <= now:
            assert self.ctx.security is not None
            self._private = (now + self.ctx.config.token_cache_s, self.ctx.security.private_projects())
        return self._private[1]


def _request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` when it is a plain token of at most 64 characters, else a new one."""
    sent = _header(scope, b"x-request-id") or ""
    if _REQUEST_ID.fullmatch(sent):
        return sent
    from shipyard.core.ids import new_id

    return new_id()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def presented_token(scope: Scope, method: str) -> str | None:
    """The bearer value of ``Authorization``, or (GET/HEAD only) the UI's cookie; None when absent."""
    header = _header(scope, b"authorization")
    if header is not None:
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return rest.strip() or None
    if method in ("GET", "HEAD"):
        return _cookie(scope, TOKEN_COOKIE) or None
    return None


def path_problem(raw_path: str, path: str) -> str | None:
    """Why a request path is not canonical, or None."""
    if _BAD_ENCODED.search(raw_path):
        return "percent-encoded '.', '/', '\\' or NUL in the path"
    if "\x00" in path or "\\" in path:
        return "NUL or backslash in the path"
    segments = path.split("/")[1:]
    if any(s in (".", "..") for s in segments):
        return "'.' or '..' segment in the path"
    if any(s == "" for s in segments[:-1]):
        return "empty segment ('//') in the path"
    return None


def _login_redirect(scope: Scope, method: str) -> ASGIApp | None:
    """A signed-out browser asking for a UI page is sent to the login page (303), not a JSON 401."""
    path: str = scope["path"]
    if method not in ("GET", "HEAD") or not path.startswith("/ui/") or path.startswith("/ui/static/"):
        return None
    if "text/html" not in (_header(scope, b"accept") or ""):
        return None
    from urllib.parse import quote

    from starlette.responses import RedirectResponse

    query = bytes(scope.get("query_string") or b"").decode("latin-1")
    target = path + (f"?{query}" if query else "")
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)


class GuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from shipyard.security.network import nosniff
        from shipyard.server.request_limits import request_line_response  # over-long path/query: 414

        too_long = request_line_response(scope)
        if too_long is not None:
            await too_long(scope, receive, nosniff(send))
            return
        from shipyard.server.errors import error_response

        send = nosniff(send)
        app = scope["app"]
        ctx: ServerContext = app.state.ctx
        method: str = scope["method"]
        from shipyard.server.edge import edge_refusal  # Host allow-list (421), auth throttle (429)

        refused = edge_refusal(ctx, scope, presented_token(scope, method))
        if refused is not None:
            await refused(scope, receive, send)
            return
        raw_path = bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        problem = path_problem(raw_path, scope["path"])
        if problem is not None:
            bad = error_response(400, "invalid_input", f"invalid request path: {problem}")
            await bad(scope, receive, send)
            return
        template, method_ok, params = match_route(app, scope)
        scope.setdefault("state", {})["route"] = template  # the HTTP metrics' label (http_metrics.py)
        needed = required_rule(app.state.permissions, method, template) if template else None
        if template is not None and method_ok and needed is None:
            await error_response(
                403, "permission_denied", f"{method} {template} is not in the server's permission table"
            )(scope, receive, send)
            return
        try:
            principal = await self._principal(ctx, scope, method)
        except ShipyardError as exc:  # the token lookup failed: the database is down or stuck (503)
            status = HTTP_STATUS.get(exc.code, 500)
            if status >= 500:
                import logging

                log = logging.getLogger("shipyard.server")
                log.error("%s %s: token lookup failed: %s", method, scope["path"], exc)
            await error_response(status, exc.code, exc.message)(scope, receive, send)
            return
        branch = _header(scope, BRANCH_HEADER)
        if branch is not None and principal is not None:
            from dataclasses import replace

            from shipyard.core.branches import validate_branch

            try:  # acting on a branch: writes reach only the branch's objects (security/policy.py)
                principal = replace(
                    principal, access=replace(principal.access, branch=validate_branch(branch))
                )
            except ShipyardError as exc:
                await error_response(400, exc.code, f"{BRANCH_HEADER.decode()}: {exc.message}")(
                    scope, receive, send
                )
                return
        if needed is None or needed.permission != PUBLIC:
            if principal is None:
                login = _login_redirect(scope, method)
                if login is not None:
                    await login(scope, receive, send)
                    return
                await error_response(
                    401,
                    "unauthenticated",
                    "missing, invalid, expired or revoked token; send 'Authorization: Bearer <token>' "
                    "(SHIPYARD_TOKEN for the CLI and SDK)",
                    headers={"WWW-Authenticate": "Bearer"},
                )(scope, receive, send)
                return
            refusal = await self._refusal(ctx, principal, needed, params) if needed is not None else None
            if isinstance(refusal, PermissionDeniedError):
                message = f"{method} {template} refused: {with_narrowing(refusal.message, principal.access)}"
                where = template or scope["path"]
                await self._audit(ctx, principal, scope, where, 403, refusal_detail(message))
                await error_response(403, refusal.code, message)(scope, receive, send)
                return
            if refusal is not None:
                status = HTTP_STATUS.get(refusal.code, 500)
                await error_response(status, refusal.code, refusal.message)(scope, receive, send)
                return
        scope.setdefault("state", {})["principal"] = principal
        if template is not None and not method_ok:  # OPTIONS: 204, another method: 405; both list them
            await methods_response(app, scope, method)(scope, receive, send)
            return
        if method in MUTATIONS and template not in STREAM_ROUTES and method_ok:
            rejected = self._check_json(ctx, scope)
            if rejected is not None:
                await rejected(scope, receive, send)
                return
            receive = self._limited(receive, ctx.config.max_json_bytes)
        before: tuple[str | None] | None = None
        if method in MUTATIONS and principal is not None and needed is not None:
            before = await self._digest(ctx, needed, template, params)
        await self._forward(
            ctx, scope, receive, send, principal, template, method_ok, (needed, params, before)
        )

    @staticmethod
    async def _refusal(
        ctx: ServerContext, principal: Principal, rule: Rule, params: dict[str, str]
    ) -> ShipyardError | None:
        """Why ``principal`` may not use this route: a 403 (or a 404 for an object it may not even
        see, in a private project), or None."""
        from shipyard.core.errors import NotFoundError, PermissionDeniedError

        if rule.permission == AUTHENTICATED:
            return None
        if not principal.access.can_somewhere(rule.permission):
            return PermissionDeniedError(f"{principal.name!r} lacks the {rule.permission} permission")
        if rule.resource is None:
            return None
        import anyio.to_thread

        from shipyard.server.access import check_object

        resource = rule.resource
        try:
            await anyio.to_thread.run_sync(
                lambda: check_object(ctx, principal.access, rule.permission, resource, params)
            )
        except (PermissionDeniedError, NotFoundError) as exc:
            return exc
        except StorageError as exc:  # the database is down or not answering: 503, retry later
            return exc
        except Exception as exc:  # a failing store: logged here, answered without details
            import logging

            logging.getLogger("shipyard.server").error("access check failed", exc_info=exc)
            return ShipyardError("internal server error; the server log has the details")
        return None

    async def _principal(self, ctx: ServerContext, scope: Scope, method: str) -> Principal | None:
        import anyio.to_thread

        if not ctx.config.auth:
            from shipyard.security.policy import full_access

            return Principal(ctx.settings.user, full_access(ctx.settings.user), None)
        value = presented_token(scope, method)
        if not value:
            return None
        auth = ctx.authenticator
        assert auth is not None
        hit, principal = auth.cached(value)
        if not hit:
            principal = await anyio.to_thread.run_sync(auth.authenticate, value)
        if principal is None:
            from shipyard.server.edge import note_failed_auth

            note_failed_auth(ctx, scope, value)  # counted per client and token prefix (429 later)
        return principal

    def _check_json(self, ctx: ServerContext, scope: Scope) -> Any:
        from shipyard.server.errors import error_response

        length = _header(scope, b"content-length")
        chunked = (_header(scope, b"transfer-encoding") or "").lower() == "chunked"
        has_body = chunked or (length is not None and length.strip() not in ("", "0"))
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return error_response(400, "invalid_input", "invalid Content-Length header")
            if size > ctx.config.max_json_bytes:
                return error_response(
                    413,
                    "payload_too_large",
                    f"request body of {size} bytes is over the limit of {ctx.config.max_json_bytes} bytes",
                )
        if has_body:
            ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return error_response(
                    415,
                    "unsupported_media_type",
                    f"this route takes application/json, not {ctype or 'a body without Content-Type'}",
                )
        return None

    @staticmethod
    def _limited(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        return wrapped

    async def _forward(  # noqa: PLR0917
        self,
        ctx: ServerContext,
        scope: Scope,
        receive: Receive,
        send: Send,
        principal: Principal | None,
        template: str | None,
        method_ok: bool,
        state: tuple[Rule | None, dict[str, str], tuple[str | None] | None],
    ) -> None:
        from shipyard.server.errors import error_response

        status = 500
        started = audited = False
        # MLflow's searches are POSTs that only read (permissions.QUERY_POSTS): not audited, like GETs
        mutation = (
            scope["method"] in MUTATIONS
            and principal is not None
            and method_ok
            and template not in QUERY_POSTS
        )

        async def record() -> None:
            """The mutation's (or refusal's) audit event, once, before the answer's last byte leaves
            (a client that saw the answer finds the event in the log)."""
            nonlocal audited
            if audited or not (mutation or (status == 403 and principal is not None and method_ok)):
                return
            audited = True
            assert principal is not None
            rule, params, before = state
            detail = None
            if before is not None:
                import orjson

                after = await self._digest(ctx, rule, template, params)
                assert after is not None
                detail = orjson.dumps({"before": before[0], "after": after[0]}).decode()
            await self._audit(ctx, principal, scope, template or scope["path"], status, detail)

        async def watching_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = int(message["status"]), True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                await record()
            await send(message)

        try:
            key = _header(scope, b"idempotency-key")
            keyed = key is not None and scope["method"] == "POST" and method_ok and template is not None
            if keyed and principal is not None:
                from shipyard.server.idempotency import run_idempotent  # a retried write runs once

                assert key is not None and template is not None
                name = principal.name
                await run_idempotent(ctx, scope, receive, watching_send, self.app, name, template, key)
            else:
                await self.app(scope, receive, watching_send)
        except _TooLarge:
            status = 413
            if not started:
                limit = ctx.config.max_json_bytes
                await error_response(
                    413, "payload_too_large", f"request body is over the limit of {limit} bytes"
                )(scope, receive, watching_send)
        except Exception as exc:  # the last line of defence: log it here, answer without details
            import logging

            status = 500
            logging.getLogger("shipyard.server").error(
                "%s %s failed", scope["method"], scope["path"], exc_info=exc
            )
            if not started:
                message = "internal server error; the server log has the details"
                await error_response(500, "internal_error", message)(scope, receive, watching_send)
        finally:
            await record()  # when no complete answer went out

    @staticmethod
    async def _audit(  # noqa: PLR0917
        ctx: ServerContext, principal: Principal, scope: Scope, template: str, status: int, detail: str | None
    ) -> None:
        from shipyard.server.audit_state import audit_event

        if ctx.audit is not None:
            ctx.audit.record(
                audit_event(principal, scope, template, status, detail=detail, request_id=_request_id(scope))
            )

    @staticmethod
    async def _digest(
        ctx: ServerContext, rule: Rule | None, template: str | None, params: dict[str, str]
    ) -> tuple[str | None] | None:
        """(the digest of the rule's object now,) — or None for routes that carry no digests."""
        import anyio.to_thread

        from shipyard.server.audit_state import state_digest, wants_digests

        if rule is None or rule.resource is None or not wants_digests(rule, template):
            return None
        resource = rule.resource
        try:
            return (await anyio.to_thread.run_sync(lambda: state_digest(ctx, resource, params)),)
        except Exception:  # a digest is a courtesy: never fail or block the request for it
            return (None,)
