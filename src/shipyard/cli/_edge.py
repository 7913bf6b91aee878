"""The network-edge options ``shipyard server`` and ``shipyard serve`` share (Host allow-list,
failed-authentication throttle, trusted proxies), declared once."""

from __future__ import annotations

from typing import Annotated, Any

import typer

AllowedHosts = Annotated[
    str | None,
    typer.Option(
        "--allowed-hosts",
        envvar="SHIPYARD_ALLOWED_HOSTS",
        help="Host names answered, comma-separated (421 for others; default: any with tokens, "
        "loopback names only with --no-auth).",
    ),
]
ForwardedAllowIps = Annotated[
    str,
    typer.Option(
        "--forwarded-allow-ips",
        help="Proxy addresses whose X-Forwarded-For is believed, comma-separated (default: none).",
    ),
]


def max_auth_failures_option(what: str) -> Any:
    """The ``--max-auth-failures`` option, its help naming ``what`` fails (sign-ins, token checks)."""
    return typer.Option("--max-auth-failures", min=1, help=f"Failed {what} per client per minute before 429.")


def parse_proxies(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())
