"""Browser sign-in with a token, sign-out, and the UI's static files (signing in with a password
is :mod:`shipyard.server.ui.login`, single sign-on :mod:`shipyard.server.ui.oidc`).

The guard middleware (:mod:`shipyard.server.auth`) accepts the ``shipyard_token`` cookie for GET
and HEAD only, so a cookie can read pages but never change anything. Signing in posts the token
as JSON (``static/login.js``): the guard admits only ``application/json`` bodies, and a cross-site
page cannot send one without a CORS preflight, so no other site can sign a browser in. The cookie
is HttpOnly, SameSite=Strict, Secure on HTTPS, and lives for the browser session. Failed sign-ins
count towards the failed-authentication throttle (429, :mod:`shipyard.server.edge`).

Signing out is a POST (a GET never clears the cookie) that must come from a page of this site:
``Sec-Fetch-Site: same-origin``, or, from browsers without it, an ``Origin`` equal to the request's
host (:func:`shipyard.security.network.same_origin`); anything else answers 403, so a cross-site
form cannot sign a user out. Signing out also revokes the session's token on the server when it
is a ``ui-session`` token (minted by a password or SSO sign-in); a pasted API token stays valid.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from shipyard.core.errors import NotFoundError, PermissionDeniedError, UnauthenticatedError
from shipyard.server.ui.common import ROOT, STATIC, page_context, server_context
from shipyard.server.ui.templating import Pages, static_dir

STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png", ".svg": "image/svg+xml"}


class Login(BaseModel):
    token: str = Field(min_length=1, max_length=4096)
    next: str = Field(default=f"{ROOT}/runs", max_length=2048)


def safe_next(target: str) -> str:
    """Only paths inside the UI; anything else (``//evil``, ``https://...``) goes to the runs list."""
    if target.startswith(f"{ROOT}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{ROOT}/runs"


def static_file(path: str) -> Path:
    """A file under the UI's static folder with an allowed suffix; NotFoundError otherwise."""
    root = Path(static_dir()).resolve()
    candidate = (root / path).resolve()
    if root not in candidate.parents or not candidate.is_file() or candidate.suffix not in STATIC_TYPES:
        raise NotFoundError(f"no static file {path!r}")
    return candidate


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def prefers_html(accept: str) -> bool:
    """Whether an ``Accept`` header ranks ``text/html`` above JSON (a browser's navigation does;
    ``*/*``, ``application/json`` or no header at all, as API clients send, do not)."""
    html = json = 0.0
    for item in accept[:2048].split(",")[:64]:
        kind, *params = item.split(";")
        kind, q = kind.strip().lower(), _quality(params)
        if kind == "text/html":
            html = max(html, q)
        elif kind in ("application/json", "application/*", "*/*"):
            json = max(json, q if kind == "application/json" else q - 0.001)  # specific beats wildcard
    return html > 0 and html > json


def add_session_routes(router: APIRouter, pages: Pages) -> None:
    from shipyard.server.auth import TOKEN_COOKIE

    @router.get("/")
    def server_root(request: Request) -> Response:
        """A browser lands on the UI; an API client gets where things are, as JSON."""
        vary = {"Vary": "Accept"}
        if prefers_html(request.headers.get("accept", "")):
            return RedirectResponse(ROOT, status_code=303, headers=vary)
        index = {"service": "shipyard", "api": "/api/v1", "ui": ROOT, "openapi": "/openapi.json"}
        return JSONResponse(index, headers={**vary, "Cache-Control": "no-store"})

    @router.get(ROOT)
    def home(request: Request) -> Response:
        signed_in = user_signed_in(request)
        return RedirectResponse(f"{ROOT}/runs" if signed_in else f"{ROOT}/login", status_code=303)

    @router.get(f"{ROOT}/login")
    def login_page(request: Request) -> Response:
        target = safe_next(request.query_params.get("next", f"{ROOT}/runs"))
        sso = server_context(request).settings.oidc_issuer is not None
        return pages.render("login.html", **page_context(request, "login", next=target, error=None, sso=sso))

    @router.post(f"{ROOT}/login")
    def login(request: Request, body: Login) -> Response:
        from shipyard.server.edge import note_failed_auth, throttled_response

        ctx = server_context(request)
        if ctx.config.auth:
            value = body.token.strip()
            throttled = throttled_response(ctx, request.scope, value)
            if throttled is not None:
                return throttled
            auth = ctx.authenticator
            principal = auth.authenticate(value) if auth is not None else None
            if principal is None:
                note_failed_auth(ctx, request.scope, value)
                raise UnauthenticatedError("that token is not valid (unknown, expired or revoked)")
        response = JSONResponse({"next": safe_next(body.next)})
        set_session_cookie(response, request, body.token.strip())
        return response

    @router.post(f"{ROOT}/logout")
    def logout(request: Request) -> Response:
        from shipyard.security.network import same_origin
        from shipyard.server.accounts import end_ui_session

        headers = request.headers
        if not same_origin(headers.get("sec-fetch-site"), headers.get("origin"), headers.get("host")):
            raise PermissionDeniedError(
                "sign-out must be sent from a shipyard page (a cross-site or origin-less request "
                "cannot sign you out); use the Sign out button"
            )
        ctx, value = server_context(request), request.cookies.get(TOKEN_COOKIE)
        ended = end_ui_session(ctx.security, value) if value and ctx.security is not None else None
        if ended is not None:
            from shipyard.server.ui.login import audit_sign_in

            if ctx.authenticator is not None:
                ctx.authenticator.clear()  # the session token stops working now, not after the cache
            audit_sign_in(ctx, request, ended, "sign-out")
        response = RedirectResponse(f"{ROOT}/login", status_code=303)
        response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get(f"{STATIC}/{{path:path}}")
    def static(path: str) -> Response:
        file = static_file(path)
        media = STATIC_TYPES[file.suffix]
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600"}
        return FileResponse(file, media_type=media, headers=headers)


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    """The browser session: ``shipyard_token`` (HttpOnly, SameSite=Strict, Secure on HTTPS), for
    every way of signing in (a pasted token, a password, single sign-on)."""
    from shipyard.server.auth import TOKEN_COOKIE

    response.set_cookie(
        TOKEN_COOKIE, value, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )


def user_signed_in(request: Request) -> bool:
    return request.scope.get("state", {}).get("principal") is not None
