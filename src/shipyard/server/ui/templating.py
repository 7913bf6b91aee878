"""The Jinja2 environment of the web UI: package templates, autoescape always on, strict undefined,
and the handful of formatting filters the pages use. Built per router, never at import time."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.responses import HTMLResponse

#: Content-Security-Policy of every UI page: scripts and styles only from this server, no inline
#: script, images from here (artifact previews) or data: URLs (uPlot legend markers), no framing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: a page that frames a task's card (served sandboxed, with a CSP of its own): frames from here only
CSP_WITH_CARD = CSP + "; frame-src 'self'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def format_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.6g}"


def _size(num: int) -> str:
    size = float(num)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{num} B"  # pragma: no cover


def format_value(value: Any) -> str:
    """A param value as text: strings as they are, other JSON values as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _json_script(value: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>`` or ``<!--``)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above for the script-data context


def templates_dir() -> str:
    return str(resources.files("shipyard.server.ui") / "templates")


def static_dir() -> str:
    return str(resources.files("shipyard.server.ui") / "static")


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when,
        duration=_duration,
        number=format_number,
        size=_size,
        value=format_value,
        json_script=_json_script,
    )
    return env


class Pages:
    """Renders a template into an HTML response with the UI's security headers."""

    def __init__(self) -> None:
        self.env = make_environment()

    def render(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    def render_framing(self, name: str, **context: Any) -> HTMLResponse:
        """Like :meth:`render`, for a page that frames same-origin content (a task's card)."""
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, headers={**SECURITY_HEADERS, "Content-Security-Policy": CSP_WITH_CARD})
