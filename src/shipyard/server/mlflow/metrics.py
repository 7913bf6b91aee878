"""MLflow metric history: ``metrics/get-history`` (paged through the store's own tokens) and
``metrics/get-history-bulk-interval`` (a sample of several runs' points in a step range)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_key
from shipyard.metadata.base import METRIC_PAGE_MAX
from shipyard.server.deps import ctx_of
from shipyard.server.mlflow.common import answer, query, read_run
from shipyard.server.mlflow.convert import integer, metric_json, run_id_of, text

HISTORY_DEFAULT = 25_000  # MLflow's page size for get-history
MAX_BULK_RUNS = 100
MAX_BULK_POINTS = 2_500  # per run, MLflow's own cap for the bulk interval
MAX_READ = 1_000_000  # points read per run to sample from (bounded)


def history(request: Request) -> Response:
    params = query(request)
    run_id = run_id_of(params)
    key = validate_key("metric", text(params, "metric_key", limit=250))
    limit = integer(params, "max_results", HISTORY_DEFAULT) or HISTORY_DEFAULT
    if not 1 <= limit <= METRIC_PAGE_MAX:
        raise InvalidInputError(f"max_results must be between 1 and {METRIC_PAGE_MAX}, got {limit}")
    read_run(request, run_id)
    token = text(params, "page_token", required=False, limit=1000) or None
    page = ctx_of(request).stores.metadata.get_metric_history_page(run_id, key, limit=limit, page_token=token)
    doc: dict[str, object] = {"metrics": [metric_json(m) for m in page.metrics]}
    if page.next_page_token:
        doc["next_page_token"] = page.next_page_token
    return answer(doc)


def _sample(points: list[tuple[int, dict[str, object]]], limit: int) -> list[dict[str, object]]:
    """At most ``limit`` points spread evenly over the steps, keeping the first and the last."""
    if len(points) <= limit:
        return [doc for _, doc in points]
    picks = {round(i * (len(points) - 1) / (limit - 1)) for i in range(limit)} if limit > 1 else {0}
    return [points[i][1] for i in sorted(picks)]


def bulk_interval(request: Request) -> Response:
    params = query(request)
    run_ids = params.get("run_ids") or []
    run_ids = [run_ids] if isinstance(run_ids, str) else run_ids
    if not run_ids or len(run_ids) > MAX_BULK_RUNS:
        raise InvalidInputError(f"run_ids must name 1 to {MAX_BULK_RUNS} runs")
    key = validate_key("metric", text(params, "metric_key", limit=250))
    start, end = integer(params, "start_step"), integer(params, "end_step")
    if (start is None) != (end is None) or (start is not None and end is not None and start > end):
        raise InvalidInputError("give both start_step and end_step (start <= end), or neither")
    limit = integer(params, "max_results", MAX_BULK_POINTS) or MAX_BULK_POINTS
    if not 1 <= limit <= MAX_BULK_POINTS:
        raise InvalidInputError(f"max_results must be between 1 and {MAX_BULK_POINTS}, got {limit}")
    metadata = ctx_of(request).stores.metadata
    found: list[dict[str, object]] = []
    for run_id in dict.fromkeys(run_ids):
        read_run(request, run_id)
        points: list[tuple[int, dict[str, object]]] = []
        token: str | None = None
        read = 0
        while read < MAX_READ:
            page = metadata.get_metric_history_page(run_id, key, limit=METRIC_PAGE_MAX, page_token=token)
            read += len(page.metrics)
            for m in page.metrics:
                if start is None or end is None or start <= m.step <= end:
                    points.append((m.step, {**metric_json(m), "run_id": run_id}))
            token = page.next_page_token
            if not token:
                break
        points.sort(key=lambda p: p[0])
        found.extend(_sample(points, limit))
    return answer({"metrics": found})


ROUTES: list[tuple[str, str, Callable[..., Response]]] = [
    ("GET", "/metrics/get-history", history),
    ("GET", "/metrics/get-history-bulk-interval", bulk_interval),
]
