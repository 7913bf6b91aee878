"""The feature-view registry (:class:`~shipyard.metadata.features.FeatureRecords` over HTTP).

A view belongs to the project named at its first apply (or to the server scope); writing it needs
``data:write`` there, reading it ``data:read`` there. Views of private projects the caller may not
read are left out of lists and answer 404."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shipyard.core.errors import ConflictError, NotFoundError, PermissionDeniedError
from shipyard.metadata.features import FeatureRecords, ViewRecord
from shipyard.metadata.rest.codec import json_value_in
from shipyard.security.policy import SERVER_SCOPE, Access, check_project_name
from shipyard.server.contract import INT32_MAX, JSON_INT_MAX
from shipyard.server.deps import ctx_of, once, principal_of, wire
from shipyard.server.paging import (
    LIMIT_DOC,
    LIST_PAGE_DEFAULT,
    LIST_PAGE_MAX,
    OFFSET_DOC,
    SCAN_CHUNK,
    check_list_page,
    scan_visible,
    split_page,
)
from shipyard.server.schemas import FeatureName, FeatureViewIn, ProjectName

router = APIRouter(prefix="/api/v1", tags=["features"], dependencies=once())
_SCAN = SCAN_CHUNK  # views read per query while filtering what the caller may see
_After = Annotated[
    FeatureName | None,
    Query(description="A view name: continue after it (the last page's ``next_after``)."),
]


def _records(request: Request) -> FeatureRecords:
    return ctx_of(request).features


def _scope(project: str | None) -> str:
    return SERVER_SCOPE if project is None else f"project:{project}"


def _readable(access: Access, view: ViewRecord) -> bool:
    if view.project is not None and view.project in access.hidden_projects():
        return False
    return access.can("data:read", _scope(view.project))


def _visible(request: Request, view: ViewRecord) -> ViewRecord:
    if not _readable(principal_of(request).access, view):
        raise NotFoundError(f"feature view {view.name!r} does not exist: see `shipyard features list`")
    return view


@router.post("/features/views/{name}", responses={201: {"description": "Created (its first version)"}})
def apply_view(request: Request, name: FeatureName, body: FeatureViewIn) -> Response:
    from shipyard.features.views import check_identifier

    check_identifier(name, "feature view name")
    project = None if body.project is None else check_project_name(body.project)
    access = principal_of(request).access
    records = _records(request)
    try:
        existing: ViewRecord | None = records.get_view(name)
    except NotFoundError:
        existing = None
    if existing is not None:
        _visible(request, existing)
        if existing.project != project:
            raise ConflictError(
                f"feature view {name!r} belongs to {_scope(existing.project)}; a view's project never changes"
            )
    if not access.can("data:write", _scope(project)):
        raise PermissionDeniedError(
            f"{access.principal!r} lacks the data:write permission in {_scope(project)}"
        )
    spec = json_value_in(body.spec)
    view, created = records.apply_view(name, spec, project=project, by=access.principal, at=datetime.now(UTC))
    return wire({"view": view, "created": created}, status=201 if created else 200)


@router.get("/features/views/{name}")
def get_view(
    request: Request, name: FeatureName, version: int | None = Query(default=None, ge=1, le=INT32_MAX)
) -> Response:
    latest = _visible(request, _records(request).get_view(name))
    view = latest if version is None else _records(request).get_view(name, version)
    return wire({"view": view})


@router.get("/features/views/{name}/access")
def view_access(request: Request, name: FeatureName, project: ProjectName | None = None) -> Response:
    """What the caller may see of a feature view's columns, for reads the client shapes itself (a
    view over its own files, its online store, a prediction log): hidden and masked columns and
    the row filter (its text: the client applies it). The decision is the server's
    (``data/policies.Reader.decision``); the scope is the applied view's project, or ``project``
    for a view not applied."""
    import orjson

    from shipyard.data.policies import scope_of
    from shipyard.server.data_access import reader_of

    try:
        applied: ViewRecord | None = _visible(request, _records(request).get_view(name))
    except NotFoundError:
        applied = None
    scope = scope_of(applied.project if applied is not None else project)
    principal = principal_of(request)
    if not principal.access.can("data:read", scope):
        raise PermissionDeniedError(
            f"{principal.access.principal!r} lacks the data:read permission in {scope}"
        )
    decision = reader_of(ctx_of(request), principal).decision("feature_view", name, [], scope)
    body = {
        "hidden": sorted(decision.hidden),
        "masked": dict(sorted(decision.masked.items())),
        "row_filter": decision.row_filter,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/features/views/{name}/versions")
def view_versions(
    request: Request,
    name: FeatureName,
    limit: int = Query(default=LIST_PAGE_DEFAULT, ge=1, le=LIST_PAGE_MAX),
    offset: int = Query(default=0, ge=0, le=JSON_INT_MAX),
) -> Response:
    check_list_page(limit, offset)
    _visible(request, _records(request).get_view(name))
    rows = _records(request).view_versions(name, limit=limit + 1, offset=offset)
    page, next_offset = split_page(rows, limit, offset)
    return wire({"versions": page, "next_offset": next_offset})


@router.get("/features/views")
def list_views(
    request: Request,
    limit: int = Query(default=LIST_PAGE_DEFAULT, ge=1, le=LIST_PAGE_MAX, description=LIMIT_DOC),
    offset: int = Query(default=0, ge=0, le=JSON_INT_MAX, description=OFFSET_DOC),
    after: _After = None,
) -> Response:
    """Views the caller may read, by name, paged in the database: read by keyset in chunks of
    ``_SCAN`` and filtered (the page is cut after filtering: stable and complete), so no request
    holds more than a page and a chunk. ``after`` (the answer's ``next_after``) continues where a
    page ended without reading what came before; ``offset`` counts readable views after it."""
    check_list_page(limit, offset)
    access = principal_of(request).access
    records = _records(request)
    rows = scan_visible(
        lambda cursor: records.list_views(limit=_SCAN, after=cursor),
        lambda view: view.name,
        lambda view: _readable(access, view),
        limit=limit,
        offset=offset,
        after=after,
        chunk=_SCAN,
    )
    page, next_offset = split_page(rows, limit, offset)
    next_after = page[-1].name if next_offset is not None else None
    return wire({"views": page, "next_offset": next_offset, "next_after": next_after})
