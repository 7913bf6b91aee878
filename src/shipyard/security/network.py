"""Which bind addresses count as loopback (the only ones ``--no-auth`` accepts)."""

from __future__ import annotations

import ipaddress

from shipyard.core.errors import ConfigurationError


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
