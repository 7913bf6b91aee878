"""Feature pages: the applied feature views, and one view (entity, source, timestamps, TTL, typed
features, its versions, its online freshness when the server knows the online store, and its
lineage: the training sets read from it and the model versions trained on them, a page at a time;
``feature_lineage.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.metadata.features import ViewRecord
from shipyard.server.deps import principal_of
from shipyard.server.permissions import Rule
from shipyard.server.ui.common import ROOT, guarded, page_context, server_context
from shipyard.server.ui.feature_lineage import training_sets
from shipyard.server.ui.templating import Pages

PERMISSIONS: dict[tuple[str, str], Rule] = {
    ("GET", f"{ROOT}/features"): Rule("data:read"),
    ("GET", f"{ROOT}/features/{{name}}"): Rule("data:read"),
}


def _readable(request: Request, view: ViewRecord) -> bool:
    access = principal_of(request).access
    if view.project is not None and view.project in access.hidden_projects():
        return False
    return access.can("data:read", "*" if view.project is None else f"project:{view.project}")


def _freshness(request: Request, name: str) -> datetime | None:
    """Up to when the view's online values are materialized, if an online store is configured
    (the server's one store, opened once: ``ServerContext.online_store``)."""
    try:
        store = server_context(request).online_store()
        mark = None if store is None else store.watermark(name)
    except Exception:  # the page still shows the view when the online store is down
        return None
    return None if mark is None else datetime.fromtimestamp(mark[0] / 1_000_000, UTC)


def view_visible(request: Request, name: str) -> bool:
    """Whether the reader may see applied view ``name`` (the model page's links back)."""
    try:
        return _readable(request, server_context(request).features.get_view(name))
    except ShipyardError:
        return False


def _offset(text: str | None) -> int:
    if text is None or not text.isdigit() or len(text) > 9:
        return 0
    return int(text)


def add_feature_routes(router: APIRouter, pages: Pages) -> None:
    @router.get(f"{ROOT}/features")
    def features_list(request: Request) -> Response:
        def build() -> Response:
            views = [
                v for v in server_context(request).features.list_views(limit=1000) if _readable(request, v)
            ]
            return pages.render("features.html", **page_context(request, "features", views=views))

        return guarded(pages, request, "features", build)

    @router.get(f"{ROOT}/features/{{name}}")
    def feature_page(request: Request, name: str) -> Response:
        def build() -> Response:
            records = server_context(request).features
            view = records.get_view(name)
            if not _readable(request, view):
                raise NotFoundError(f"feature view {name!r} does not exist")
            spec: dict[str, Any] = view.spec
            offset = _offset(request.query_params.get("offset"))
            hidden = set(principal_of(request).access.hidden_projects())
            sets, following = training_sets(server_context(request), view.name, hidden, offset)
            return pages.render(
                "feature.html",
                **page_context(
                    request,
                    "features",
                    view=view,
                    spec=spec,
                    versions=records.view_versions(name, limit=50),
                    freshness=_freshness(request, name),
                    training_sets=sets,
                    lineage_offset=offset,
                    lineage_next=following,
                ),
            )

        return guarded(pages, request, "features", build)
