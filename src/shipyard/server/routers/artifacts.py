"""Artifact records of runs and tasks (the bytes travel through :mod:`.blobs`, by content hash)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard.artifacts.cas import validate_digest
from shipyard.core.entities import ArtifactRecord
from shipyard.core.names import validate_key
from shipyard.server.deps import ctx_of, decode_body, may_write_runs, once, wire
from shipyard.server.paging import LIST_PAGE_DEFAULT, check_list_page, split_page
from shipyard.server.schemas import ArtifactIn, Key, Limit, Offset

router = APIRouter(prefix="/api/v1", tags=["artifacts"], dependencies=once())


@router.post("/artifacts", status_code=201)
def record_artifact(request: Request, body: ArtifactIn) -> Response:
    validate_key("artifact", body.name)
    validate_digest(body.digest)
    record: ArtifactRecord = decode_body(ArtifactRecord, body.model_dump())
    may_write_runs(request, run_ids=[record.run_id])
    return wire(ctx_of(request).stores.metadata.record_artifact(record), 201)


@router.get("/artifacts/{artifact_id}")
def get_artifact(request: Request, artifact_id: str) -> Response:
    return wire(ctx_of(request).stores.metadata.get_artifact(artifact_id))


@router.get("/runs/{run_id}/artifacts")
def list_artifacts(
    request: Request,
    run_id: str,
    task_id: str | None = None,
    limit: Limit = LIST_PAGE_DEFAULT,
    offset: Offset = 0,
) -> Response:
    check_list_page(limit, offset)
    rows = ctx_of(request).stores.metadata.list_artifacts(run_id, task_id, limit=limit + 1, offset=offset)
    page, next_offset = split_page(rows, limit, offset)
    return wire({"artifacts": page, "next_offset": next_offset})


@router.get("/runs/{run_id}/artifact")
def find_artifact(request: Request, run_id: str, name: Key, task_id: str | None = None) -> Response:
    """One artifact by name (``?name=model&task_id=...``; run-level when ``task_id`` is absent)."""
    validate_key("artifact", name)
    return wire(ctx_of(request).stores.metadata.find_artifact(run_id, name, task_id))
