"""Monitoring dashboard pages: the deployments with a prediction log, and one deployment's drift as a
heatmap of features x windows (worst first; a cell links to that feature's distribution in that
window against the reference: ``?feature=F&at=I``), quality (F1/RMSE), prediction volume and latency
over time, the current drift table, feature importance and alerts. The numbers come from
:mod:`shipyard.monitoring.dashboard`, the heatmap's layout from :mod:`.drift_view`."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

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
        "time": True,  # xs are the windows' starts, seconds since the epoch
    }


def _focus(request: Request, buckets: int) -> tuple[str, int] | None:
    """``?feature=F&at=I``: the heatmap cell whose distributions to show."""
    feature, at = request.query_params.get("feature"), request.query_params.get("at")
    if feature is None and at is None:
        return None
    if not feature or at is None or not at.isdigit() or int(at) >= buckets or len(feature) > 256:
        raise InvalidInputError(
            f"feature and at name a heatmap cell: a feature and a window index from 0 to {buckets - 1}; "
            "click a cell of the drift heatmap"
        )
    return feature, int(at)


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
            from shipyard.monitoring.windows import Window, buckets, parse_span
            from shipyard.server.ui.drift_view import build_heatmap, distribution_chart

            ctx = server_context(request)
            span = Window.parse(window, utcnow())
            step = parse_span(every)
            if span.start is None or span.end is None or (span.end - span.start) / step > 500:
                raise InvalidInputError("choose a time window (e.g. 1d) of at most 500 buckets (--every)")
            focus = _focus(request, len(buckets(span.start, span.end, step)))
            board = build_dashboard(
                ctx.stores,
                deployment,
                str(ctx.settings.home / "predictions"),
                span.start,
                span.end,
                step,
                focus,
            )
            xs = [t.timestamp() for t in board.starts]

            def link(feature: str, at: int) -> str:
                query = urlencode({"window": window, "every": every, "feature": feature, "at": at})
                return f"?{query}#distribution"

            heatmap = build_heatmap(board, link, focus)
            dist = None
            if board.distribution is not None:
                when = heatmap.column_titles[board.distribution.bucket]
                dist = distribution_chart(board.distribution, when)
            charts = []
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
                    heatmap=heatmap,
                    dist=dist,
                    focus=focus,
                    window=span.label(),
                ),
            )

        return guarded(pages, request, "monitoring", build)
