"""Params, metrics and tags of a run.

``POST /runs/{run_id}/metrics`` is the hot path (the SDK's batched writer sends thousands of points
per call): its body is parsed with orjson straight into :class:`Metric` objects, not through
Pydantic; the OpenAPI schema still documents it as :class:`~shipyard.server.schemas.MetricsIn`.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from annotated_types import Interval
from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard.core.entities import Metric
from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_key
from shipyard.metadata.base import METRIC_PAGE_DEFAULT, METRIC_PAGE_MAX
from shipyard.metadata.rest.codec import float_in, json_value_in
from shipyard.server.contract import JSON_INT_MAX, JSON_INT_MIN, integral
from shipyard.server.deps import ctx_of, once, wire
from shipyard.server.schemas import Key, MetricsIn, ParamsIn, TagsIn

router = APIRouter(prefix="/api/v1", tags=["params, metrics, tags"], dependencies=once())
_METRICS_SCHEMA = {
    "required": True,
    "content": {"application/json": {"schema": MetricsIn.model_json_schema()}},
}


@router.post("/runs/{run_id}/params", status_code=204)
def log_params(request: Request, run_id: str, body: ParamsIn) -> Response:
    params = {validate_key("param", k): json_value_in(v) for k, v in body.params.items()}
    ctx_of(request).stores.metadata.log_params(run_id, params)
    return Response(status_code=204)


@functools.lru_cache(maxsize=65536)
def _valid_metric_key(key: str) -> str:
    """validate_key for metric names, remembered: the same keys come back batch after batch."""
    return validate_key("metric", key)


def parse_metrics(body: bytes) -> list[Metric]:
    """``{"metrics": [[key, value, step, timestamp], ...]}`` → points; InvalidInputError naming the
    first bad row."""
    import orjson

    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _Unprocessable(f"request body is not valid JSON: {exc}") from None
    rows = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise _Unprocessable('expected {"metrics": [[key, value, step, timestamp_ms], ...]}')
    seen: set[str] = set()
    points: list[Metric] = []
    append, new, set_dict = points.append, object.__new__, object.__setattr__
    for i, row in enumerate(rows):
        try:
            if type(row) is not list:
                raise ValueError("expected [key, value, step, timestamp_ms]")
            key, value, step, ts = row
            if key not in seen:
                _valid_metric_key(key)
                seen.add(key)
            if type(value) is not float:
                value = float_in(value)
            if type(step) is not int or type(ts) is not int:
                step, ts = integral(step), integral(ts)  # 3.0 is the integer 3
                if type(step) is not int or type(ts) is not int:
                    raise ValueError("step and timestamp must be integers")
            if not (JSON_INT_MIN <= step <= JSON_INT_MAX and JSON_INT_MIN <= ts <= JSON_INT_MAX):
                raise ValueError("step and timestamp must be within +-(2**53-1); send smaller integers")
        except InvalidInputError:
            raise
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"metric row {i} ({str(row)[:80]}): {exc}") from None
        point = new(Metric)  # fields checked above; skips the frozen dataclass's __init__
        set_dict(point, "__dict__", {"key": key, "value": value, "step": step, "timestamp": ts})
        append(point)
    return points


class _Unprocessable(InvalidInputError):
    """Malformed body: answered 400 like every other body that does not parse."""


@router.post("/runs/{run_id}/metrics", status_code=204, openapi_extra={"requestBody": _METRICS_SCHEMA})
async def log_metrics(request: Request, run_id: str) -> Response:
    import anyio.to_thread

    from shipyard.server.errors import error_response

    body = await request.body()
    try:
        points = parse_metrics(body)
    except _Unprocessable as exc:
        return error_response(400, "invalid_input", exc.message)
    ctx = ctx_of(request)
    await anyio.to_thread.run_sync(ctx.stores.metadata.log_metrics, run_id, points)
    if ctx.metrics is not None:
        ctx.metrics.metric_points.inc(len(points))
    return Response(status_code=204)


@router.get("/runs/{run_id}/metric-history")
def get_metric_history(
    request: Request,
    run_id: str,
    key: Key,
    limit: Annotated[int, Interval(ge=1, le=METRIC_PAGE_MAX)] = METRIC_PAGE_DEFAULT,
    page_token: str | None = None,
) -> Response:
    """One page of a metric's points in the order logged (``limit`` 1..100,000, default 10,000);
    pass ``next_page_token`` back as ``page_token`` for the next page (None after the last)."""
    validate_key("metric", key)
    page = ctx_of(request).stores.metadata.get_metric_history_page(
        run_id, key, limit=limit, page_token=page_token
    )
    rows = [[m.key, m.value, m.step, m.timestamp] for m in page.metrics]
    return wire({"metrics": rows, "next_page_token": page.next_page_token})


@router.post("/runs/{run_id}/tags", status_code=204)
def set_tags(request: Request, run_id: str, body: TagsIn) -> Response:
    tags = {validate_key("tag", k): v for k, v in body.tags.items()}
    ctx_of(request).stores.metadata.set_tags(run_id, tags)
    return Response(status_code=204)


@router.delete("/runs/{run_id}/tags", status_code=204)
def delete_tag(request: Request, run_id: str, key: Key) -> Response:
    ctx_of(request).stores.metadata.delete_tag(run_id, validate_key("tag", key))
    return Response(status_code=204)
