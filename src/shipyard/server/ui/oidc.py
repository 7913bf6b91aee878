"""Single sign-on for the web UI: OpenID Connect, authorization-code flow with PKCE, state and nonce.

``shipyard server --oidc-issuer URL --oidc-client-id ID --oidc-client-secret-file F`` turns it on
(settings ``oidc_*``, env ``SHIPYARD_OIDC_*``). The flow:

1. ``GET /ui/login/sso?next=...``: a fresh ``state``, ``nonce`` and PKCE ``code_verifier`` are kept
   on the server (:class:`Pending`, ten minutes, bounded) and ``state`` also goes into a cookie
   (HttpOnly, SameSite=Lax, path ``/ui/login/sso``) that binds the flow to this browser; the browser
   is sent to the issuer's authorization endpoint (``code_challenge_method=S256``).
2. ``GET /ui/login/sso/callback?code&state``: the state must match the cookie and a pending flow,
   which is consumed (a replayed callback is refused); the code is exchanged at the token endpoint
   with the verifier and the client secret; the ID token's signature is checked against the
   issuer's JWKS (asymmetric algorithms only), then ``iss``, ``aud`` (and ``azp``), ``exp`` and
   ``nonce``.
3. The claim ``oidc_username_claim`` (``preferred_username`` or a verified ``email``) names the
   shipyard user. Unknown users are refused unless ``oidc_auto_create`` (then created with no role:
   an admin binds roles); disabled users and service accounts are refused. Then the same session
   cookie as a password sign-in (a ``ui-session`` token), and an audit event.

Every refusal is an HTML page saying what failed, with no cookie set. Pending flows live in this
process: run one server process per issuer client (as ``shipyard server`` does). The issuer must be
``https://`` (``http://`` only on a loopback address, for tests and local issuers).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from shipyard.core.errors import (
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    ShipyardError,
    UnauthenticatedError,
)
from shipyard.server.jwks import JwksKeys, get_json
from shipyard.server.ui.common import ROOT, page_context, server_context
from shipyard.server.ui.session import safe_next
from shipyard.server.ui.templating import Pages

if TYPE_CHECKING:
    from shipyard.core.settings import Settings

STATE_COOKIE = "shipyard_sso"
CALLBACK = f"{ROOT}/login/sso/callback"
PENDING_S = 600.0
MAX_PENDING = 10_000
HTTP_TIMEOUT_S = 10.0


class SsoError(UnauthenticatedError):
    """Single sign-on did not complete; the message says why (shown on the error page)."""


@dataclass(frozen=True)
class Pending:
    nonce: str
    verifier: str
    redirect_uri: str
    next: str
    expires: float


def check_oidc_settings(settings: Settings) -> None:
    """ConfigurationError when SSO is half configured or the issuer URL is unsafe (at start-up)."""
    from urllib.parse import urlsplit

    issuer = settings.oidc_issuer
    if issuer is None:
        return
    parts = urlsplit(issuer)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ConfigurationError(
            f"--oidc-issuer {issuer!r} must be an https:// URL (http:// only for a loopback issuer)"
        )
    if not settings.oidc_client_id:
        raise ConfigurationError("--oidc-issuer needs --oidc-client-id (SHIPYARD_OIDC_CLIENT_ID)")
    secret = settings.oidc_client_secret_file
    if secret is None or not secret.is_file():
        raise ConfigurationError(
            "--oidc-issuer needs --oidc-client-secret-file naming a readable file that holds the client "
            f"secret (got {str(secret) if secret else 'none'})"
        )
    try:
        import joserfc  # noqa: F401
    except ImportError:
        raise ConfigurationError("single sign-on needs joserfc: pip install 'shipyard[oidc]'") from None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OidcClient:
    """One server's relying party: the issuer's metadata and keys (cached), the pending flows."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer is not None and settings.oidc_client_id is not None
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self.secret_file = settings.oidc_client_secret_file
        self.claim = settings.oidc_username_claim
        self.auto_create = settings.oidc_auto_create
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self._metadata: dict[str, Any] | None = None
        self._jwks = JwksKeys(lambda: self._get(self.metadata()["jwks_uri"]), SsoError)

    # ---- the issuer ------------------------------------------------------------------------------
    def _get(self, url: str) -> dict[str, Any]:
        return get_json(url, SsoError)

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            found = self._get(f"{self.issuer}/.well-known/openid-configuration")
            if str(found.get("issuer", "")).rstrip("/") != self.issuer:
                raise SsoError("the identity provider's discovery document names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(key), str):
                    raise SsoError(f"the identity provider's discovery document lacks {key}")
            self._metadata = found
        return self._metadata

    def keys(self, refresh: bool = False) -> Any:
        return self._jwks.keys(refresh)

    # ---- step 1 ----------------------------------------------------------------------------------
    def begin(self, redirect_uri: str, next_page: str) -> tuple[str, str]:
        """(the authorization URL to send the browser to, the state for the cookie)."""
        from urllib.parse import urlencode

        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        challenge = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
        endpoint = self.metadata()["authorization_endpoint"]
        with self._lock:
            now = time.monotonic()
            while self._pending and (
                len(self._pending) >= MAX_PENDING or next(iter(self._pending.values())).expires < now
            ):
                self._pending.popitem(last=False)
            self._pending[state] = Pending(nonce, verifier, redirect_uri, next_page, now + PENDING_S)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}", state

    # ---- step 2 ----------------------------------------------------------------------------------
    def take(self, state: str, cookie: str | None) -> Pending:
        """The pending flow of ``state`` (consumed: a second use fails), bound to this browser."""
        if not cookie or not secrets.compare_digest(cookie.encode(), state.encode()):
            raise SsoError(
                "this sign-in was not started from this browser (the state does not match); "
                "start again from the sign-in page"
            )
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or pending.expires < time.monotonic():
            raise SsoError(
                "this sign-in link was already used or has expired; start again from the sign-in page"
            )
        return pending

    def claims(self, code: str, pending: Pending) -> dict[str, Any]:
        """Exchange ``code`` and verify the ID token; its claims."""
        import httpx

        assert self.secret_file is not None
        secret = self.secret_file.read_text(encoding="utf-8").strip()
        meta = self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.verifier,
        }
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        auth: tuple[str, str] | None = (self.client_id, secret)
        if "client_secret_basic" not in methods and "client_secret_post" in methods:
            form |= {"client_id": self.client_id, "client_secret": secret}
            auth = None
        try:
            response = httpx.post(meta["token_endpoint"], data=form, auth=auth, timeout=HTTP_TIMEOUT_S)
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SsoError(f"the identity provider's token endpoint failed: {type(exc).__name__}") from None
        if (
            response.status_code != 200
            or not isinstance(data, dict)
            or not isinstance(data.get("id_token"), str)
        ):
            error = data.get("error") if isinstance(data, dict) else None
            raise SsoError(
                f"the identity provider refused the code ({str(error or response.status_code)[:80]})"
            )
        return self.verify_id_token(data["id_token"], pending.nonce)

    def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        from joserfc.errors import ExpiredTokenError, JoseError
        from joserfc.jwt import JWTClaimsRegistry

        claims = self._jwks.decode(id_token)  # the signature, against the issuer's JWKS
        registry = JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise SsoError("the ID token was refused: it has expired (check the server's clock)") from None
        except JoseError as exc:
            what = getattr(exc, "claim", None) or exc.error
            raise SsoError(
                f"the ID token was refused: its {what!s} claim is missing, wrong or expired"
            ) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SsoError("the ID token was refused: it names several audiences but another azp")
        return claims

    def user_name(self, claims: dict[str, Any]) -> str:
        value = claims.get(self.claim)
        if not isinstance(value, str) or not value.strip():
            raise SsoError(f"the ID token has no {self.claim} claim to name a shipyard user")
        if self.claim == "email" and claims.get("email_verified") is not True:
            raise SsoError("the identity provider has not verified this email address")
        return value.strip()


def _redirect_uri(request: Request) -> str:
    public = server_context(request).settings.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return base + CALLBACK


def _sign_in(request: Request, client: OidcClient, name: str) -> None:
    """The checks between a verified identity and a session: known (or auto-created), a person,
    enabled."""
    from shipyard.core.clock import utcnow
    from shipyard.metadata.security import AuditEvent
    from shipyard.server.accounts import add_user

    ctx = server_context(request)
    assert ctx.security is not None
    found = ctx.security.password_of(name)
    if found is None:
        if not client.auto_create:
            raise PermissionDeniedError(
                f"{name!r} signed in at the identity provider but is not a shipyard user; "
                "ask an admin to create it (shipyard users create)"
            )
        from shipyard.core.names import validate_name

        add_user(
            ctx.security, validate_name("user", name), None, by="sso", description="created by single sign-on"
        )
        if ctx.audit is not None:
            ctx.audit.record(AuditEvent(utcnow(), name, "sso create user", request.url.path, 201))
        return
    user = found[0]
    if user.kind != "user":
        raise PermissionDeniedError(f"{name!r} is a service account; service accounts cannot sign in")
    if user.disabled:
        raise PermissionDeniedError(f"{name!r} is disabled; ask an admin to enable it")


def add_oidc_routes(router: APIRouter, pages: Pages) -> None:
    clients: dict[str, OidcClient] = {}  # one per app (this router), made on first use
    lock = threading.Lock()

    def client_of(request: Request) -> OidcClient:
        settings = server_context(request).settings
        if settings.oidc_issuer is None or not server_context(request).config.auth:
            raise NotFoundError(
                "single sign-on is not configured on this server (shipyard server --oidc-issuer)"
            )
        with lock:
            if "client" not in clients:
                clients["client"] = OidcClient(settings)
            return clients["client"]

    def refused(request: Request, exc: ShipyardError) -> Response:
        from shipyard.core.errors import HTTP_STATUS

        status = HTTP_STATUS.get(exc.code, 400)
        response: HTMLResponse = pages.render(
            "error.html",
            status_code=status,
            **page_context(request, "login", title="Single sign-on failed", message=exc.message),
        )
        response.delete_cookie(STATE_COOKIE, path=f"{ROOT}/login/sso", httponly=True, samesite="lax")
        return response

    @router.get(f"{ROOT}/login/sso")
    def sso_start(request: Request) -> Response:
        try:
            client = client_of(request)
            target = safe_next(request.query_params.get("next", f"{ROOT}/runs"))
            url, state = client.begin(_redirect_uri(request), target)
        except ShipyardError as exc:
            return refused(request, exc)
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            STATE_COOKIE,
            state,
            max_age=int(PENDING_S),
            httponly=True,
            samesite="lax",  # it must come back on the identity provider's (cross-site) redirect
            secure=request.url.scheme == "https",
            path=f"{ROOT}/login/sso",
        )
        return response

    @router.get(CALLBACK)
    def sso_callback(request: Request) -> Response:
        from shipyard.server.ui.login import start_session

        query = request.query_params
        try:
            client = client_of(request)
            if query.get("error"):
                raise SsoError(f"the identity provider refused the sign-in ({query['error'][:80]})")
            state, code = query.get("state") or "", query.get("code") or ""
            if not state or not code:
                raise SsoError("the identity provider's answer lacks code or state; start again")
            pending = client.take(state, request.cookies.get(STATE_COOKIE))
            name = client.user_name(client.claims(code, pending))
            _sign_in(request, client, name)
        except ShipyardError as exc:
            return refused(request, exc)
        # a page, not a 303: the session cookie is SameSite=Strict, and the redirect chain that
        # started at the identity provider is cross-site, so the browser would not send it yet
        response: HTMLResponse = pages.render(
            "sso_done.html", **page_context(request, "login", next=pending.next, who=name)
        )
        response.delete_cookie(STATE_COOKIE, path=f"{ROOT}/login/sso", httponly=True, samesite="lax")
        start_session(server_context(request), request, name, "sso", response)
        return response
