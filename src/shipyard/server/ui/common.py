"""What every UI route shares: the server context, the signed-in user, page context, error pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from shipyard.core.errors import HTTP_STATUS, ShipyardError
from shipyard.server.ui.templating import Pages

if TYPE_CHECKING:
    from shipyard.server.app import ServerContext

ROOT = "/ui"
STATIC = f"{ROOT}/static"


def server_context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def user_name(request: Request) -> str | None:
    """The signed-in user (the guard middleware put the principal on the request)."""
    principal = request.scope.get("state", {}).get("principal")
    return None if principal is None else str(principal.name)


def can(request: Request, permission: str) -> bool:
    """Whether the signed-in principal holds ``permission`` somewhere (what the guard checks for a
    route without a resource): decides which links the navigation shows."""
    principal = request.scope.get("state", {}).get("principal")
    return principal is not None and bool(principal.access.can_somewhere(permission))


def page_context(request: Request, section: str, **extra: Any) -> dict[str, Any]:
    return {
        "root": ROOT,
        "static": STATIC,
        "user": user_name(request),
        "section": section,
        "can_audit": can(request, "audit:read"),
        **extra,
    }


def error_page(pages: Pages, request: Request, exc: ShipyardError, section: str = "runs") -> HTMLResponse:
    status = HTTP_STATUS.get(exc.code, 500)
    titles = {400: "Invalid request", 403: "Not allowed", 404: "Not found", 409: "Conflict"}
    message = exc.message if status < 500 else "The server could not show this page; its log has the details."
    return pages.render(
        "error.html",
        status_code=status,
        **page_context(request, section, title=titles.get(status, "Error"), message=message),
    )


def guarded(pages: Pages, request: Request, section: str, build: Callable[[], Response]) -> Response:
    """Run ``build``; a ShipyardError (unknown id, bad filter...) becomes an HTML error page."""
    try:
        return build()
    except ShipyardError as exc:
        return error_page(pages, request, exc, section)
