"""Monitoring records: reference-profile index, monitors, results and alerts
(:class:`~shipyard.metadata.monitoring.MonitoringRecords` over HTTP)."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Interval
from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_name
from shipyard.metadata.monitoring import OPEN_ALERT_MONITORS, MonitoringRecords, ResultRow
from shipyard.metadata.rest.codec import float_in, json_value_in
from shipyard.server.deps import ctx_of, decode_body, once, wire
from shipyard.server.paging import LIST_PAGE_DEFAULT, LIST_PAGE_MAX, check_list_page, split_page
from shipyard.server.schemas import (
    AlertCreateIn,
    AlertUpdateIn,
    Id64,
    ImportanceIn,
    Limit,
    MonitorIn,
    MonitorName,
    Name,
    Offset,
    ProfileIn,
    ResultsIn,
    Time,
    Version,
)

router = APIRouter(prefix="/api/v1", tags=["monitoring"], dependencies=once())
P = "/monitoring/profiles/{model}/{version}"


def _records(request: Request) -> MonitoringRecords:
    return ctx_of(request).monitoring


def _number(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float_in(value)
    except ValueError as exc:
        raise InvalidInputError(f"value: {exc}") from None


@router.put(P, status_code=204)
def put_profile(request: Request, model: Name, version: Version, body: ProfileIn) -> Response:
    _records(request).put_profile(validate_name("model", model), version, body.digest, body.rows, body.at)
    return Response(status_code=204)


@router.get(P)
def get_profile(request: Request, model: Name, version: Version) -> Response:
    return wire({"profile": _records(request).get_profile(model, version)})


@router.put(P + "/importance", status_code=204)
def set_importance(request: Request, model: Name, version: Version, body: ImportanceIn) -> Response:
    _records(request).set_importance(model, version, json_value_in(body.importance))
    return Response(status_code=204)


@router.put("/monitoring/monitors/{name}", status_code=204)
def put_monitor(request: Request, name: MonitorName, body: MonitorIn) -> Response:
    from shipyard.monitoring.monitors import checked_monitor  # the CLI's check, on what is stored

    spec = checked_monitor(validate_name("monitor", name), body.deployment, json_value_in(body.spec))
    _records(request).put_monitor(spec["name"], spec["deployment"], spec, body.at)
    return Response(status_code=204)


@router.get("/monitoring/monitors/{name}")
def get_monitor(request: Request, name: MonitorName) -> Response:
    return wire({"spec": _records(request).get_monitor(name)})


@router.get("/monitoring/monitors")
def list_monitors(request: Request, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0) -> Response:
    check_list_page(limit, offset)
    page, next_offset = split_page(
        _records(request).list_monitors(limit=limit + 1, offset=offset), limit, offset
    )
    return wire({"monitors": page, "next_offset": next_offset})


@router.post("/monitoring/results", status_code=204)
def add_results(request: Request, body: ResultsIn) -> Response:
    rows = [decode_body(ResultRow, row) for row in body.rows]
    _records(request).add_results(rows)
    metrics = ctx_of(request).metrics
    if metrics is not None and rows:  # a client's monitor run reports its results in one call
        metrics.note_monitor_run("api", None, breached=any(row.breached for row in rows))
    return Response(status_code=204)


@router.get("/monitoring/results")
def results(
    request: Request,
    monitor: str,
    since: Time | None = None,
    limit: Limit = LIST_PAGE_DEFAULT,
    offset: Offset = 0,
) -> Response:
    check_list_page(limit, offset)
    rows = _records(request).results(monitor, since, limit + 1, offset=offset)
    page, next_offset = split_page(rows, limit, offset)
    return wire({"results": page, "next_offset": next_offset})


@router.get("/monitoring/open-alert")
def open_alert(request: Request, monitor: str, key: str) -> Response:
    return wire({"alert": _records(request).open_alert(monitor, key)})


@router.get("/monitoring/open-alert-counts")
def open_alert_counts(
    request: Request, limit: Annotated[int, Interval(ge=1, le=LIST_PAGE_MAX)] = OPEN_ALERT_MONITORS
) -> Response:
    """Open alerts per monitor: the ``limit`` (1..10,000) monitors with the most."""
    check_list_page(limit, 0)
    return wire({"counts": _records(request).open_alert_counts(limit)})


@router.post("/monitoring/alerts", status_code=201)
def create_alert(request: Request, body: AlertCreateIn) -> Response:
    alert = _records(request).create_alert(body.monitor, body.key, body.at, _number(body.value), body.message)
    return wire(alert, status=201)


@router.patch("/monitoring/alerts/{alert_id}", status_code=204)
def update_alert(request: Request, alert_id: Id64, body: AlertUpdateIn) -> Response:
    _records(request).update_alert(
        alert_id,
        last_seen_at=body.last_seen_at,
        value=_number(body.value),
        resolved_at=body.resolved_at,
        delivery=body.delivery,
    )
    return Response(status_code=204)


@router.get("/monitoring/alerts")
def alerts(
    request: Request, monitor: str | None = None, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0
) -> Response:
    check_list_page(limit, offset)
    page, next_offset = split_page(_records(request).alerts(monitor, limit + 1, offset=offset), limit, offset)
    return wire({"alerts": page, "next_offset": next_offset})
