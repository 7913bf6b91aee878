"""Environment pages: the environments with a release or a sync status (those the reader may plan
in), one environment (its sync status and drift, its applied deployments and other objects, its
releases, who holds its lock) and one release (who, which commit, its outcome and the diff it
applied, with the plan's verdicts)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from shipyard.server.contract import INT32_MAX
from shipyard.server.deps import principal_of
from shipyard.server.permissions import Rule
from shipyard.server.ui.common import ROOT, guarded, page_context, server_context
from shipyard.server.ui.templating import Pages

_ENV = f"{ROOT}/environments/{{project}}/{{environment}}"
PERMISSIONS: dict[tuple[str, str], Rule] = {
    ("GET", f"{ROOT}/environments"): Rule("deploy:plan"),  # only those the reader may plan in
    ("GET", _ENV): Rule("deploy:plan", "environment"),
    ("GET", f"{_ENV}/releases/{{number}}"): Rule("deploy:plan", "environment"),
}
_PAGE = 50


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _changes(plan: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The plan's changes as the template shows them (every value as text)."""
    out = []
    for change in (plan or {}).get("changes", []):
        if not isinstance(change, dict):
            continue
        fields = [
            {"path": str(f.get("path")), "old": _shown(f.get("old")), "new": _shown(f.get("new"))}
            for f in change.get("fields", [])
            if isinstance(f, dict)
        ]
        out.append(
            {
                "action": str(change.get("action")),
                "kind": str(change.get("kind")),
                "name": str(change.get("name")),
                "fields": fields,
            }
        )
    return out


def _offset(text: str | None) -> int:
    return int(text) if text is not None and text.isdigit() and len(text) <= 9 else 0


def add_deploy_routes(router: APIRouter, pages: Pages) -> None:
    @router.get(f"{ROOT}/environments")
    def environments(request: Request) -> Response:
        def build() -> Response:
            access = principal_of(request).access
            delivery = server_context(request).delivery
            applied = {(e.project, e.environment): e for e in delivery.list_environments(limit=1000)}
            synced = {(s.project, s.environment): s for s in delivery.list_syncs(limit=1000)}
            rows = [
                {"project": p, "environment": e, "state": applied.get((p, e)), "sync": synced.get((p, e))}
                for p, e in sorted(set(applied) | set(synced))
                if access.can("deploy:plan", f"project:{p}/env:{e}")
            ]
            return pages.render(
                "environments.html", **page_context(request, "environments", environments=rows)
            )

        return guarded(pages, request, "environments", build)

    @router.get(_ENV)
    def environment(request: Request, project: str, environment: str) -> Response:
        def build() -> Response:
            delivery = server_context(request).delivery
            offset = _offset(request.query_params.get("offset"))
            releases = delivery.list_releases(project, environment, limit=_PAGE + 1, offset=offset)
            more = offset + _PAGE if len(releases) > _PAGE else None
            objects = delivery.list_objects(project, environment, limit=1000)
            return pages.render(
                "environment.html",
                **page_context(
                    request,
                    "environments",
                    project=project,
                    environment=environment,
                    deployments=[o for o in objects if o.kind in ("service", "batch")],
                    others=[o for o in objects if o.kind not in ("service", "batch")],
                    releases=releases[:_PAGE],
                    next_offset=more,
                    lock=delivery.get_lock(project, environment),
                    sync=delivery.get_sync(project, environment),
                ),
            )

        return guarded(pages, request, "environments", build)

    @router.get(f"{_ENV}/releases/{{number}}")
    def release(
        request: Request, project: str, environment: str, number: Annotated[int, Path(ge=1, le=INT32_MAX)]
    ) -> Response:
        def build() -> Response:
            found = server_context(request).delivery.get_release(project, environment, number)
            plan = found.plan or {}
            verdicts = [v for v in plan.get("verdicts", []) if isinstance(v, dict)]
            return pages.render(
                "release.html",
                **page_context(
                    request,
                    "environments",
                    project=project,
                    environment=environment,
                    release=found,
                    changes=_changes(plan),
                    verdicts=[{"ok": v.get("ok"), "message": str(v.get("message"))} for v in verdicts],
                ),
            )

        return guarded(pages, request, "environments", build)
