"""Monitoring dashboard pages: the deployments with a prediction log, and one deployment's drift per
feature over time, quality (F1/RMSE) per window, prediction volume and latency, the current drift
table, feature importance and alerts. The numbers come from :mod:`shipyard.monitoring.dashboard`."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError
from shipyard.server.permissions import Rule
from shipyard.server.ui.common import ROOT, guarded, page_context, server_context
from shipyard.server.ui.templating import Pages

#: rows for the server's permission table
PERMISSIONS: dict[tuple[str, str], Rule] = {
    ("GET", f"{ROOT}/monitoring"): Rule("monitor:read"),
    ("GET", f"{ROOT}/monitoring/{{deployment}}"): Rule("monitor:read"),
}


def _series(title: str, labels: list[str], xs: list[float], ys: list[list[float | None]]) -> dict[str, Any]:
    clean = [[None if v is None or not math.isfinite(v) else v for v in y] for y in ys]
    return {
        "title": title,
        "labels": labels,
        "data": [xs, *clean],
        "points": sum(v is not None for y in clean for v in y),
    }


def add_monitoring_routes(router: APIRouter, pages: Pages) -> None:
    @router.get(f"{ROOT}/monitoring")
    def monitoring_list(request: Request) -> Response:
        def build() -> Response:
            from shipyard.monitoring.dashboard import deployments

            ctx = server_context(request)
            found = deployments(str(ctx.settings.home / "predictions"))
            return pages.render("monitoring.html", **page_context(request, "monitoring", deployments=found))

        return guarded(pages, request, "monitoring", build)

    @router.get(f"{ROOT}/monitoring/{{deployment}}")
    def monitoring_page(request: Request, deployment: str, window: str = "1d", every: str = "1h") -> Response:
        def build() -> Response:
            from shipyard.core.clock import utcnow
            from shipyard.monitoring.dashboard import build_dashboard
            from shipyard.monitoring.windows import Window, parse_span

            ctx = server_context(request)
            span = Window.parse(window, utcnow())
            step = parse_span(every)
            if span.start is None or span.end is None or (span.end - span.start) / step > 500:
                raise InvalidInputError("choose a time window (e.g. 1d) of at most 500 buckets (--every)")
            board = build_dashboard(
                ctx.stores, deployment, str(ctx.settings.home / "predictions"), span.start, span.end, step
            )
            xs = [
                round((t - span.start).total_seconds() / 3600, 3) for t in board.starts
            ]  # hours into the window
            charts = []
            if board.drift_scores:
                names = sorted(board.drift_scores)
                charts.append(
                    _series("drift score per feature", names, xs, [board.drift_scores[n] for n in names])
                )
            metric = next(
                (m for m in ("f1", "rmse", "accuracy", "mae") if any(m in q.metrics for q in board.quality)),
                None,
            )
            if metric:
                charts.append(
                    _series(
                        f"{metric} per window", [metric], xs, [[q.metrics.get(metric) for q in board.quality]]
                    )
                )
            charts.append(
                _series("predictions per window", ["predictions"], xs, [[float(v) for v in board.volume]])
            )
            charts.append(_series("mean latency (ms)", ["latency"], xs, [board.latency_ms]))
            return pages.render(
                "monitoring_deployment.html",
                **page_context(
                    request,
                    "monitoring",
                    deployment=deployment,
                    board=board,
                    charts=charts,
                    window=span.label(),
                ),
            )

        return guarded(pages, request, "monitoring", build)
