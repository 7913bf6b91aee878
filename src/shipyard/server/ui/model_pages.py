"""Model pages: the registered models, one model (versions, aliases, history), one version (card
and lineage: source run -> its input artifacts -> package -> version; the datasets its run read,
and the feature views a training set among them was read from)."""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.metadata.datasets import DatasetUse
from shipyard.metadata.model_registry import LineageRecord
from shipyard.registry.uri import parse_version, validate_model_name
from shipyard.server.deps import principal_of
from shipyard.server.ui.common import ROOT, guarded, page_context, server_context
from shipyard.server.ui.feature_lineage import views_behind
from shipyard.server.ui.feature_pages import view_visible
from shipyard.server.ui.templating import Pages

if TYPE_CHECKING:
    from shipyard.server.app import ServerContext


def lineage_columns(records: list[LineageRecord]) -> list[tuple[int, list[LineageRecord]]]:
    """Lineage grouped by depth, farthest first (so the page reads left to right into the model)."""
    ordered = sorted(records, key=lambda r: (-r.depth, r.name))
    return [(depth, list(group)) for depth, group in groupby(ordered, key=lambda r: r.depth)]


def _run_inputs(ctx: ServerContext, run_id: str | None) -> list[DatasetUse]:
    """The dataset versions the version's source run read (model -> run -> dataset)."""
    if run_id is None:
        return []
    try:
        return [u for u in ctx.datasets.run_uses(run_id) if u.direction == "input"]
    except ShipyardError:
        return []


def add_model_routes(router: APIRouter, pages: Pages) -> None:
    @router.get(f"{ROOT}/models")
    def models_list(request: Request) -> Response:
        def build() -> Response:
            hidden = principal_of(request).access.hidden_projects()
            models = server_context(request).registry.list_models(hidden_projects=hidden)
            return pages.render("models.html", **page_context(request, "models", models=models))

        return guarded(pages, request, "models", build)

    @router.get(f"{ROOT}/models/{{name}}")
    def model_page(request: Request, name: str) -> Response:
        def build() -> Response:
            registry = server_context(request).registry
            model = registry.get_model(validate_model_name(name))
            return pages.render(
                "model.html",
                **page_context(
                    request,
                    "models",
                    model=model,
                    versions=registry.list_versions(model.name),
                    history=registry.alias_history(model.name)[-50:],
                ),
            )

        return guarded(pages, request, "models", build)

    @router.get(f"{ROOT}/models/{{name}}/versions/{{version}}")
    def version_page(request: Request, name: str, version: str) -> Response:
        def build() -> Response:
            from shipyard.registry.card import build_card
            from shipyard.registry.service import ModelRegistry

            ctx = server_context(request)
            found = ctx.registry.get_version(validate_model_name(name), parse_version(version))
            card = build_card(ModelRegistry(ctx.stores, ctx.registry), found)
            uses = _run_inputs(ctx, found.run_id)
            task_key = None
            if found.task_id:
                try:
                    task_key = ctx.stores.metadata.get_task(found.task_id).key
                except NotFoundError:
                    task_key = None
            return pages.render(
                "version.html",
                **page_context(
                    request,
                    "models",
                    v=found,
                    card=card,
                    task_key=task_key,
                    dataset_uses=uses,
                    feature_views=views_behind(ctx, uses, lambda view: view_visible(request, view)),
                    lineage_columns=lineage_columns(card.lineage),
                ),
            )

        return guarded(pages, request, "models", build)
