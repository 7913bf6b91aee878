"""The team server's checks before any token is looked up: the ``Host`` header (DNS rebinding)
and the failed-authentication throttle. The decisions are pure functions in
:mod:`shipyard.security.network` and :mod:`shipyard.security.throttle`; this module reads the
request and turns a refusal into the JSON error every route answers with.

- **421** ``misdirected_request``: the ``Host`` header names a host this server does not answer —
  with ``--no-auth`` anything but ``localhost``, 127.0.0.0/8 or ``[::1]`` (any port), else a name
  outside ``--allowed-hosts`` when that is set.
- **429** ``too_many_requests`` with ``Retry-After``: this client address, or this token's first
  12 characters, failed to authenticate ``auth_failures`` times within ``auth_window_s``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Scope

    from shipyard.server.app import ServerContext


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def client_host(scope: Scope) -> str | None:
    """The peer address of the connection (proxy headers count only where uvicorn was told to
    trust the proxy: ``--forwarded-allow-ips``)."""
    client = scope.get("client")
    return str(client[0]) if client else None


def host_refusal(ctx: ServerContext, scope: Scope) -> Response | None:
    """421 unless the request's ``Host`` is one this server answers."""
    from shipyard.security.network import host_allowed
    from shipyard.server.errors import error_response

    config = ctx.config
    if host_allowed(_header(scope, b"host"), config.allowed_hosts, loopback_only=not config.auth):
        return None
    if not config.auth:
        message = (
            "this server runs without authentication and answers only loopback host names "
            "(localhost, 127.0.0.1, [::1]); open it through one of those"
        )
    else:
        message = "the Host header names a host this server does not answer (see --allowed-hosts)"
    return error_response(421, "misdirected_request", message)


def throttled_response(ctx: ServerContext, scope: Scope, token: str | None) -> Response | None:
    """429 when this client, or this token's prefix, has failed to authenticate too often."""
    if ctx.throttle is None or not token:
        return None
    from shipyard.server.errors import error_response

    throttled = ctx.throttle.check(client_host(scope), token)
    if throttled is None:
        return None
    return error_response(
        429, "too_many_requests", throttled.message, headers={"Retry-After": str(throttled.retry_after_s)}
    )


def edge_refusal(ctx: ServerContext, scope: Scope, token: str | None) -> Response | None:
    """The answer for a request refused before authentication, or None to go on."""
    return host_refusal(ctx, scope) or throttled_response(ctx, scope, token)


def note_failed_auth(ctx: ServerContext, scope: Scope, token: str) -> None:
    """Count a presented token that did not authenticate (per client address and token prefix)."""
    if ctx.throttle is not None:
        ctx.throttle.failed(client_host(scope), token)
