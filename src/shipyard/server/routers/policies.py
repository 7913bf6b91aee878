"""Data policies (:class:`~shipyard.metadata.policies.PolicyStore` over HTTP): create, list, show,
delete. Every route needs ``policy:manage`` (admins only: whoever manages policies can grant
themselves any column). A policy's row filter is checked against the row-filter grammar here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shipyard.data.rowfilter import parse_row_filter
from shipyard.security.data_policy import TARGET_KINDS, DataPolicy, check_policy
from shipyard.server.deps import ctx_of, principal_of, wire
from shipyard.server.paging import LIST_PAGE_DEFAULT, LIST_PAGE_MAX, check_list_page, split_page
from shipyard.server.schemas import PolicyIn

router = APIRouter(prefix="/api/v1", tags=["policies"])


@router.post("/policies", status_code=201)
def create_policy(request: Request, body: PolicyIn) -> Response:
    policy = DataPolicy(
        name=body.name,
        target_kind=body.target_kind,
        target=body.target,
        subjects=tuple(body.subjects),
        columns=dict(body.columns),
        row_filter=body.row_filter,
        description=body.description,
        created_by=principal_of(request).name,
        created_at=datetime.now(UTC),
    )
    check_policy(policy)
    if policy.row_filter is not None:
        parse_row_filter(policy.row_filter)
    return wire({"policy": ctx_of(request).policies.create_policy(policy)}, 201)


@router.get("/policies")
def list_policies(
    request: Request,
    target_kind: Literal["dataset", "feature_view"] | None = Query(default=None),
    target: str | None = Query(default=None, max_length=250),
    limit: int = Query(default=LIST_PAGE_DEFAULT, ge=1, le=LIST_PAGE_MAX),
    offset: int = Query(default=0, ge=0),
) -> Response:
    """By name; ``target_kind`` (one of dataset, feature_view) and ``target`` narrow the list."""
    check_list_page(limit, offset)
    if target_kind is not None and target_kind not in TARGET_KINDS:
        from shipyard.core.errors import InvalidInputError

        raise InvalidInputError(f"invalid target_kind {target_kind!r}; use one of {', '.join(TARGET_KINDS)}")
    rows = ctx_of(request).policies.list_policies(
        target_kind=target_kind, target=target, limit=limit + 1, offset=offset
    )
    page, next_offset = split_page(rows, limit, offset)
    return wire({"policies": page, "next_offset": next_offset})


@router.get("/policies/{name}")
def get_policy(request: Request, name: str) -> Response:
    return wire({"policy": ctx_of(request).policies.get_policy(name)})


@router.delete("/policies/{name}", status_code=204)
def delete_policy(request: Request, name: str) -> Response:
    ctx_of(request).policies.delete_policy(name)
    return Response(status_code=204)
