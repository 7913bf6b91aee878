"""The experiment page: one experiment of an environment (its state, the decision, the sample
ratio check, guardrail breaches) with per-window charts for both arms of every metric — the
window's mean per arm, and the challenger's cumulative difference with its always-valid interval —
and the per-window table ``shipyard experiment status`` prints. Read with ``deploy:plan`` there."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from shipyard.server.permissions import Rule
from shipyard.server.ui.common import ROOT, guarded, page_context, server_context
from shipyard.server.ui.templating import Pages

_PATH = f"{ROOT}/environments/{{project}}/{{environment}}/experiments/{{name}}"
PERMISSIONS: dict[tuple[str, str], Rule] = {("GET", _PATH): Rule("deploy:plan", "environment")}
MAX_WINDOWS = 500  # the newest windows charted


def charts(result: Any) -> list[dict[str, Any]]:
    """Per metric: arms' window means, and the cumulative difference with its interval."""
    import math

    def clean(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(v) else v

    out = []
    for metric in result.metrics:
        windows = metric.windows[-MAX_WINDOWS:]
        if not windows:
            continue
        t0 = windows[0].start
        xs = [round((w.start - t0).total_seconds() / 3600, 3) for w in windows]
        means = [[clean(w.mean[0]) for w in windows], [clean(w.mean[1]) for w in windows]]
        effect = [
            [clean(w.cum_diff) for w in windows],
            [clean(w.cs[0]) for w in windows],
            [clean(w.cs[1]) for w in windows],
        ]
        for title, labels, ys in (
            (f"{metric.name} per window", ["control", "challenger"], means),
            (
                f"{metric.name}: challenger - control (always-valid 95%)",
                ["difference", "low", "high"],
                effect,
            ),
        ):
            out.append(
                {
                    "title": title,
                    "labels": labels,
                    "data": [xs, *ys],
                    "points": sum(v is not None for y in ys for v in y),
                }
            )
    return out


def add_experiment_routes(router: APIRouter, pages: Pages) -> None:
    @router.get(_PATH)
    def experiment(request: Request, project: str, environment: str, name: str) -> Response:
        def build() -> Response:
            from shipyard.deploy import experiments as ex

            ctx = server_context(request)
            spec = ex.get_experiment(ctx.delivery, project, environment, name)
            result = ex.analyse(ctx.stores, name, spec, str(ctx.settings.home / "predictions"))
            return pages.render(
                "experiment.html",
                **page_context(
                    request,
                    "environments",
                    project=project,
                    environment=environment,
                    result=result,
                    spec=spec,
                    charts=charts(result),
                ),
            )

        return guarded(pages, request, "environments", build)
