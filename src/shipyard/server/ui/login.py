"""Signing in to the web UI with a user name and password.

``POST /ui/login/password`` takes JSON ``{"username", "password", "next"}`` (``static/login.js``
sends it) and must come from a page of this site (``Sec-Fetch-Site: same-origin`` or a matching
``Origin``, as sign-out: a cross-site page cannot sign a browser in as someone else). On success
the server mints a ``ui-session`` token (12 h, :func:`shipyard.server.accounts.issue_ui_session`)
and sets it as the session cookie exactly as the token form does; signing out revokes it.

Failures answer one message that never says whether the user exists (an unknown name is checked
against a decoy hash, so it takes as long), and count towards the failed-authentication throttle
per client address and per user name (429 with ``Retry-After``). Disabled users and service
accounts cannot sign in. A hash made with older argon2 parameters is replaced on success.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shipyard.core.errors import InvalidInputError, PermissionDeniedError, UnauthenticatedError
from shipyard.server.ui.common import ROOT, server_context
from shipyard.server.ui.session import safe_next, set_session_cookie

if TYPE_CHECKING:
    from shipyard.server.app import ServerContext

WRONG = "wrong user name or password (or the account may not sign in)"


class PasswordLogin(BaseModel):
    username: str = Field(min_length=1, max_length=250)
    password: str = Field(min_length=1, max_length=1024)
    next: str = Field(default=f"{ROOT}/runs", max_length=2048)


def require_same_origin(request: Request, what: str) -> None:
    """PermissionDeniedError unless the request comes from a page of this site (login CSRF)."""
    from shipyard.security.network import same_origin

    headers = request.headers
    if not same_origin(headers.get("sec-fetch-site"), headers.get("origin"), headers.get("host")):
        raise PermissionDeniedError(
            f"{what} must be sent from a shipyard page (a cross-site or origin-less request is refused); "
            "use the form on /ui/login"
        )


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def login_throttled(ctx: ServerContext, request: Request, name: str) -> Response | None:
    """429 when this client, or this user name, failed to sign in too often."""
    import math

    from shipyard.security.throttle import Throttled, client_key
    from shipyard.server.errors import error_response

    if ctx.throttle is None:
        return None
    wait = max(
        ctx.throttle.clients.retry_after(client_key(client_of(request))),
        ctx.throttle.tokens.retry_after(f"user:{name}"),
    )
    if wait <= 0:
        return None
    throttled = Throttled(max(1, math.ceil(wait)))
    return error_response(
        429, "too_many_requests", throttled.message, headers={"Retry-After": str(throttled.retry_after_s)}
    )


def note_failed_login(ctx: ServerContext, request: Request, name: str) -> None:
    from shipyard.security.throttle import client_key

    if ctx.throttle is not None:
        ctx.throttle.clients.failure(client_key(client_of(request)))
        ctx.throttle.tokens.failure(f"user:{name}")


def audit_sign_in(ctx: ServerContext, request: Request, user: str, how: str) -> None:
    """One audit event per UI sign-in (a session token was minted; action ``sign-in HOW``) or
    sign-out (``how="sign-out"``: the session token was revoked): who, how, from where."""
    from shipyard.core.clock import utcnow
    from shipyard.metadata.security import AuditEvent

    if ctx.audit is not None:
        path = request.url.path
        ctx.audit.record(
            AuditEvent(
                utcnow(),
                user,
                how if how == "sign-out" else f"sign-in {how}",
                path,
                303 if how == "sign-out" else 200,
                source=(client_of(request) or "")[:64] or None,
            )
        )


def start_session(ctx: ServerContext, request: Request, user: str, how: str, response: Response) -> None:
    """Mint the ``ui-session`` token of ``user``, set it as the cookie, audit the sign-in."""
    from shipyard.server.accounts import issue_ui_session

    assert ctx.security is not None
    set_session_cookie(response, request, issue_ui_session(ctx.security, user))
    audit_sign_in(ctx, request, user, how)


def add_login_routes(router: APIRouter) -> None:
    @router.post(f"{ROOT}/login/password")
    def password_login(request: Request, body: PasswordLogin) -> Response:
        from shipyard.security.passwords import verify_password

        require_same_origin(request, "sign-in")
        ctx = server_context(request)
        if not ctx.config.auth or ctx.security is None:
            raise InvalidInputError("this server runs without authentication: every page is open already")
        name = body.username.strip()
        throttled = login_throttled(ctx, request, name)
        if throttled is not None:
            return throttled
        found = ctx.security.password_of(name)
        ok, rehashed = verify_password(found[1] if found is not None else None, body.password)
        if not ok or found is None or found[0].disabled or found[0].kind != "user":
            note_failed_login(ctx, request, name)
            raise UnauthenticatedError(WRONG)
        if rehashed is not None:
            ctx.security.set_password(name, rehashed)
        response = JSONResponse({"next": safe_next(body.next)})
        start_session(ctx, request, name, "password", response)
        return response
