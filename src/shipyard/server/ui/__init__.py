"""The web UI: server-rendered pages (Jinja2, autoescaped, CSP without inline script) over the
server's stores, with uPlot charts served from the package itself (works offline).

``create_app`` includes :data:`router` and merges :data:`PERMISSIONS` into the permission table.
``router`` is built on access (a fresh one per app; nothing is created at import time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.server.ui.routes import PERMISSIONS, build_router

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["PERMISSIONS", "build_router"]


def __getattr__(name: str) -> APIRouter:
    if name == "router":
        return build_router()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
