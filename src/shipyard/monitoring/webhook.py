"""Alert webhooks: JSON POSTs to http(s) hosts on an allow-list, redirects never followed.

``SHIPYARD_WEBHOOK_ALLOWLIST`` is a comma-separated list of host names (``hooks.slack.com``,
``alerts.internal:8443`` to pin a port); a URL whose host is not on it is refused before any
connection is made. A 3xx answer is a failure (the ``Location`` is not followed, so a redirect
cannot carry the alert to another host).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shipyard.core.errors import InvalidInputError, PermissionDeniedError

ENV = "SHIPYARD_WEBHOOK_ALLOWLIST"


def allowlist(value: str | None = None) -> list[str]:
    raw = os.environ.get(ENV, "") if value is None else value
    return [h.strip().lower() for h in raw.split(",") if h.strip()]


def check_url(url: str, allowed: list[str] | None = None) -> str:
    """The URL, if it is http(s) to an allowed host; PermissionDeniedError/InvalidInputError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidInputError(f"webhook {url!r}: only http:// and https:// URLs are allowed")
    if not parts.hostname or parts.username or parts.password:
        raise InvalidInputError(f"webhook {url!r}: needs a host and no credentials in the URL")
    allowed = allowlist() if allowed is None else allowed
    host = parts.hostname.lower()
    with_port = f"{host}:{parts.port}" if parts.port else host
    if host not in allowed and with_port not in allowed:
        raise PermissionDeniedError(
            f"webhook host {host!r} is not on the allow-list; add it to {ENV} "
            f"(now: {', '.join(allowed) or 'empty'})"
        )
    return url


def send(
    url: str, payload: Mapping[str, Any], *, timeout: float = 5.0, allowed: list[str] | None = None
) -> str:
    """POST ``payload``; returns ``"sent (STATUS)"`` or ``"failed: why"`` (never raises for the
    network; raises for a URL that is not allowed)."""
    import httpx

    check_url(url, allowed)
    try:
        response = httpx.post(url, json=dict(payload), timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        return f"failed: {type(exc).__name__}: {exc}"[:250]
    if response.is_redirect or 300 <= response.status_code < 400:
        return (
            f"failed: refused redirect ({response.status_code}) to {response.headers.get('location', '?')}"[
                :250
            ]
        )
    if response.status_code >= 400:
        return f"failed: HTTP {response.status_code}"
    return f"sent ({response.status_code})"
