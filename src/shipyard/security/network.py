"""Network checks with no I/O: which bind addresses count as loopback (the only ones ``--no-auth``
accepts), which ``Host`` headers a process answers (DNS rebinding), and whom proxy headers are
trusted from."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from shipyard.core.errors import ConfigurationError

if TYPE_CHECKING:
    from starlette.types import Message, Send

_HOST_RE = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.\-]{1,253}))(?::[0-9]{1,5})?")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (with or without brackets); False otherwise,
    including ``0.0.0.0``, ``::`` and any other name (a name could resolve anywhere)."""
    text = host.strip().lower()
    if text == "localhost":
        return True
    text = text.removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def check_no_auth_bind(host: str) -> None:
    """Refuse to serve without authentication on anything but loopback."""
    if not is_loopback_host(host):
        raise ConfigurationError(
            f"refusing to run without authentication on {host!r}: --no-auth only binds loopback "
            "(127.0.0.1, ::1 or localhost); drop --no-auth to serve other hosts with tokens"
        )


def host_name(header: str | None) -> str | None:
    """The host of an HTTP ``Host`` header, lower-cased and without its port; None when missing or
    malformed (``[::1]:8080`` -> ``::1``, ``LocalHost:80`` -> ``localhost``)."""
    if header is None:
        return None
    match = _HOST_RE.fullmatch(header.strip().lower())
    if match is None:
        return None
    if match.group("v6") is not None:
        try:
            return str(ipaddress.IPv6Address(match.group("v6")))
        except ValueError:
            return None
    return match.group("name")


def parse_allowed_hosts(text: str | None) -> tuple[str, ...] | None:
    """``--allowed-hosts`` / ``SHIPYARD_ALLOWED_HOSTS``: comma-separated host names or addresses
    without ports (``*.example.com`` matches its subdomains, ``*`` any host); None when empty."""
    if text is None or not text.strip():
        return None
    names = [_allowed_entry(part) for part in text.split(",") if part.strip()]
    return tuple(names) if names else None


def _allowed_entry(part: str) -> str:
    name = part.strip().lower()
    if name == "*":
        return name
    unbracketed = name.removeprefix("[").removesuffix("]")
    try:
        return str(ipaddress.IPv6Address(unbracketed))
    except ValueError:
        pass
    bare = name.removeprefix("*.")
    if host_name(bare) != bare or "*" in bare or "[" in bare:
        raise ConfigurationError(
            f"allowed host {part.strip()!r} is not a host name; give names or addresses without "
            "ports, comma-separated, e.g. localhost,api.example.com,*.internal.example.com"
        )
    return name


def host_allowed(header: str | None, allowed: tuple[str, ...] | None, *, loopback_only: bool) -> bool:
    """Whether a request's ``Host`` header may be answered (the DNS-rebinding check).

    ``loopback_only`` (a ``--no-auth`` server or service): only loopback names — ``localhost``,
    127.0.0.0/8 and ``[::1]``, with any port — since a web page that rebinds its own name to
    127.0.0.1 would otherwise drive the unauthenticated API from the user's browser. ``allowed``
    (``--allowed-hosts``) narrows further; None means any host (tokens protect the API then).
    """
    if allowed is None and not loopback_only:
        return True
    name = host_name(header)
    if name is None:
        return False
    if loopback_only and not is_loopback_host(name):
        return False
    if allowed is None:
        return True
    return any(
        entry in ("*", name) or (entry.startswith("*.") and name.endswith(entry[1:])) for entry in allowed
    )


def check_allowed_hosts(allowed: tuple[str, ...] | None, *, auth: bool) -> None:
    """Refuse an allow-list that names non-loopback hosts for a ``--no-auth`` process."""
    if auth or allowed is None:
        return
    wrong = [h for h in allowed if not is_loopback_host(h)]
    if wrong:
        raise ConfigurationError(
            f"--allowed-hosts {', '.join(wrong)} with --no-auth: without authentication only loopback "
            "names (localhost, 127.0.0.1, ::1) are answered; drop --no-auth to allow other hosts"
        )


def proxy_options(forwarded_allow_ips: tuple[str, ...] = ()) -> dict[str, object]:
    """uvicorn's proxy settings: ``X-Forwarded-For``/``-Proto`` are believed only from the given
    proxy addresses (``--forwarded-allow-ips``), never by default — uvicorn's own default trusts
    127.0.0.1, which would let any local client pick the address that throttling keys on."""
    if not forwarded_allow_ips:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(forwarded_allow_ips)}


def same_origin(sec_fetch_site: str | None, origin: str | None, host: str | None) -> bool:
    """Whether a browser request comes from a page of this same site (the CSRF check of form posts
    that change a session): ``Sec-Fetch-Site: same-origin`` when the browser sends it, else an
    ``Origin`` whose host and port are the request's ``Host``. Neither header: refused."""
    if sec_fetch_site is not None:
        return sec_fetch_site.strip().lower() == "same-origin"
    if not origin or not host or origin.strip().lower() == "null":
        return False
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(origin.strip().lower())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()


def nosniff(send: Send) -> Send:
    """An ASGI ``send`` whose every answer says ``X-Content-Type-Options: nosniff`` (browsers must
    not guess types); used by the team server's and the inference service's guards."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                headers.append((b"x-content-type-options", b"nosniff"))
            message["headers"] = headers
        await send(message)

    return wrapped
