"""The platform's own state: ``GET /metrics`` (Prometheus; ``metrics:read``) and
``GET /api/v1/status-summary`` (runs and tasks by status, what RUNNING tasks hold; ``run:read``,
private projects the caller may not read left out)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shipyard.server.deps import ctx_of, once, principal_of, wire

router = APIRouter(tags=["platform"], dependencies=once())


@router.get(
    "/metrics",
    summary="Prometheus metrics of the server",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def platform_metrics(request: Request) -> Response:
    """The server's metrics in the Prometheus text format (see ARCHITECTURE.md, Path 3); the
    store-derived gauges wait at most a bounded time for the database. They cover every project,
    so ``metrics:read`` must be held at the server scope (``*``), not only in a project."""
    from shipyard.core.errors import PermissionDeniedError
    from shipyard.server.errors import error_response

    principal = principal_of(request)
    if not principal.can("metrics:read"):
        raise PermissionDeniedError(
            f"{principal.name!r} holds metrics:read only in a project; /metrics covers every project "
            "and needs it at the server scope ('*')"
        )
    metrics = ctx_of(request).metrics
    if metrics is None:  # pragma: no cover - create_app always makes them
        return error_response(404, "not_found", "this server exports no metrics")
    data, content_type = metrics.render()
    return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})


@router.get("/api/v1/status-summary")
def status_summary(
    request: Request, hidden_project: Annotated[list[str] | None, Query(max_length=100)] = None
) -> Response:
    hidden = sorted({*principal_of(request).access.hidden_projects(), *(hidden_project or ())})
    return wire(ctx_of(request).stores.metadata.status_summary(hidden_projects=hidden))
