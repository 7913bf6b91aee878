"""Runs: create, read, search, count, finish, heartbeat, reap stale runs, delete."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Interval
from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints
from starlette.responses import Response

from shipyard.core.branches import validate_namespace
from shipyard.core.entities import CodeVersion, RunCreate, RunStatus
from shipyard.core.errors import InvalidInputError
from shipyard.metadata.sql.search import MAX_RESULTS
from shipyard.server.access import check_namespace
from shipyard.server.deps import acting_user, ctx_of, decode_body, once, principal_of, wire
from shipyard.server.schemas import FailStaleIn, FinishIn, HeartbeatIn, Offset, RunCreateIn

router = APIRouter(prefix="/api/v1", tags=["runs"], dependencies=once())
MAX_RUN_IDS = 100  # /run-ids completes a short id; it is not a way to list every run


@router.post("/runs", status_code=201)
def create_run(request: Request, body: RunCreateIn) -> Response:
    data = body.model_dump()
    data["user"] = acting_user(request, body.user)
    check_namespace(principal_of(request).access, validate_namespace(body.namespace, new=True))
    create: RunCreate = decode_body(RunCreate, data)
    if body.code_version is not None:
        create = _with_code(create, body.code_version.model_dump())
    return wire(ctx_of(request).stores.metadata.create_run(create), 201)


def _with_code(create: RunCreate, code: dict[str, object]) -> RunCreate:
    from dataclasses import replace

    return replace(create, code_version=decode_body(CodeVersion, code))


@router.get("/runs")
def search_runs(  # noqa: PLR0917 - one argument per query parameter
    request: Request,
    namespace: Annotated[list[str] | None, Query()] = None,
    filter: str | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    max_results: Annotated[int, Interval(ge=1, le=MAX_RESULTS)] = 100,
    offset: Offset = 0,
    flow_name: str | None = None,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    hidden_project: Annotated[list[str] | None, Query(max_length=100)] = None,
) -> Response:
    """Newest first unless ``order_by`` says otherwise; ``namespace`` absent means every namespace.
    Runs of private projects the caller may not read are never listed nor counted."""
    page = ctx_of(request).stores.metadata.search_runs(
        namespaces=namespace,
        filter=filter,
        order_by=tuple(order_by or ()),
        max_results=max_results,
        offset=offset,
        flow_name=flow_name,
        statuses=status,
        hidden_projects=_hidden(request, hidden_project),
    )
    return wire({"runs": page.runs, "next_offset": page.next_offset, "total": page.total})


def _hidden(request: Request, asked: list[str] | None) -> list[str]:
    """The private projects hidden from the caller, plus any the client itself asks to leave out."""
    return sorted({*principal_of(request).access.hidden_projects(), *(asked or ())})


@router.get("/runs-count")
def count_runs(  # noqa: PLR0917 - one argument per query parameter
    request: Request,
    namespace: Annotated[list[str] | None, Query()] = None,
    filter: str | None = None,
    flow_name: str | None = None,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    hidden_project: Annotated[list[str] | None, Query(max_length=100)] = None,
) -> Response:
    count = ctx_of(request).stores.metadata.count_runs(
        namespaces=namespace,
        filter=filter,
        flow_name=flow_name,
        statuses=status,
        hidden_projects=_hidden(request, hidden_project),
    )
    return wire({"count": count})


@router.get("/run-ids")
def find_run_ids(
    request: Request,
    prefix: Annotated[str, StringConstraints(min_length=1)],
    limit: Annotated[int, Interval(ge=1, le=MAX_RUN_IDS)] = 2,
) -> Response:
    if not 1 <= limit <= MAX_RUN_IDS:
        raise InvalidInputError(f"limit must be between 1 and {MAX_RUN_IDS}, got {limit}")
    return wire({"ids": ctx_of(request).stores.metadata.find_run_ids(prefix, limit)})


@router.post("/runs-fail-stale")
def fail_stale_runs(request: Request, body: FailStaleIn) -> Response:
    """Fail the runs without a heartbeat for ``timeout_s`` seconds, by the server's store clock."""
    return wire({"ids": ctx_of(request).stores.metadata.fail_stale_runs(body.timeout_s)})


@router.get("/runs/{run_id}")
def get_run(request: Request, run_id: str) -> Response:
    return wire(ctx_of(request).stores.metadata.get_run(run_id))


@router.post("/runs/{run_id}/finish")
def finish_run(request: Request, run_id: str, body: FinishIn) -> Response:
    run = ctx_of(request).stores.metadata.finish_run(run_id, body.status, body.end_time, body.error)
    return wire(run)


@router.post("/runs/{run_id}/heartbeat", status_code=204)
def heartbeat_run(request: Request, run_id: str, body: HeartbeatIn | None = None) -> Response:
    """Stamped with the server's store clock; a time the client sends is ignored."""
    ctx_of(request).stores.metadata.heartbeat_run(run_id)
    return Response(status_code=204)


@router.delete("/runs/{run_id}", status_code=204)
def delete_run(request: Request, run_id: str) -> Response:
    ctx = ctx_of(request)
    ctx.stores.metadata.delete_run(run_id)
    ctx.run_owners.pop(run_id, None)  # the id may be created again, by someone else
    return Response(status_code=204)
