"""Datasets: versions (with their files), aliases, and the runs that read or wrote a version.
Every list answers one page (``limit``/``offset`` in, ``next_offset`` out)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints
from starlette.responses import Response

from shipyard.artifacts.cas import validate_digest
from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_alias_name, validate_name
from shipyard.metadata.datasets import DatasetFile, DatasetUse, DatasetVersionCreate, file_row
from shipyard.security.policy import check_project_name
from shipyard.server import contract as c
from shipyard.server.access import check_new_dataset_version, check_run
from shipyard.server.data_access import redacted
from shipyard.server.deps import acting_user, ctx_of, once, principal_of, wire
from shipyard.server.paging import LIST_PAGE_DEFAULT, check_list_page, split_page
from shipyard.server.schemas import (
    Alias,
    DatasetAliasIn,
    DatasetUseIn,
    DatasetVersionIn,
    Limit,
    Name,
    Offset,
    Version,
)

router = APIRouter(prefix="/api/v1", tags=["datasets"], dependencies=once())
D = "/datasets/{name}"
V = "/datasets/{name}/versions/{version}"


def _name(name: str) -> str:
    return validate_name("dataset", name)


def _page(field: str, read: Callable[[int, int], Sequence[object]], limit: int, offset: int) -> Response:
    check_list_page(limit, offset)
    page, next_offset = split_page(read(limit + 1, offset), limit, offset)
    return wire({field: page, "next_offset": next_offset})


@router.get("/datasets")
def list_datasets(
    request: Request,
    prefix: Annotated[str | None, StringConstraints(max_length=c.NAME_MAX)] = None,
    limit: Limit = LIST_PAGE_DEFAULT,
    offset: Offset = 0,
    hidden_project: Annotated[list[str] | None, Query(max_length=100)] = None,
) -> Response:
    """Datasets of private projects the caller may not see are never listed."""
    hidden = sorted({*principal_of(request).access.hidden_projects(), *(hidden_project or ())})
    store = ctx_of(request).datasets
    return _page(
        "datasets",
        lambda n, at: store.list_datasets(prefix, limit=n, offset=at, hidden_projects=hidden),
        limit,
        offset,
    )


@router.get(D)
def get_dataset(request: Request, name: Name) -> Response:
    return wire(ctx_of(request).datasets.get_dataset(_name(name)))


@router.post(D + "/versions", status_code=201)
def create_version(request: Request, name: Name, body: DatasetVersionIn) -> Response:
    """The next version with all its files, in one transaction."""
    name = _name(name)
    project = None if body.project is None else check_project_name(body.project)
    ctx = ctx_of(request)
    check_new_dataset_version(ctx, principal_of(request).access, name, project)
    if body.run_id is not None:
        check_run(ctx, principal_of(request).access, "run:write", body.run_id)
    files = []
    for path, digest, size, rows, pack, offset, *more in body.files:
        if size < 0 or (rows is not None and rows < 0):
            raise InvalidInputError(f"file {path[:100]!r}: size and rows must not be negative")
        packed = None if pack is None else validate_digest(pack)
        chunks = tuple((validate_digest(d), n) for d, n in more[0]) if more else None
        files.append(DatasetFile(path, validate_digest(digest), size, rows, packed, offset, chunks))
    if sum(f.size for f in files) > c.INT64_MAX:
        raise InvalidInputError("the files' sizes add up past 2**63-1 bytes; send the real sizes")
    create = DatasetVersionCreate(
        dataset_name=name,
        kind=body.kind,
        source_format=body.source_format,
        files=tuple(files),
        created_by=acting_user(request, body.created_by),
        created_at=body.created_at,
        num_rows=body.num_rows,
        columns=tuple(body.columns),
        stats=body.stats,
        description=body.description,
        run_id=body.run_id,
        task_id=body.task_id,
        project=project,
    )
    return wire(ctx.datasets.create_version(create), 201)


@router.get(D + "/versions")
def list_versions(
    request: Request, name: Name, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0
) -> Response:
    """Statistics of columns hidden or masked from the caller by a data policy are left out."""
    ctx, name = ctx_of(request), _name(name)

    def read(n: int, at: int) -> Sequence[object]:
        return redacted(ctx, principal_of(request), ctx.datasets.list_versions(name, limit=n, offset=at))

    return _page("versions", read, limit, offset)


@router.get(V)
def get_version(request: Request, name: Name, version: Version) -> Response:
    """Statistics of columns hidden or masked from the caller by a data policy are left out."""
    ctx = ctx_of(request)
    return wire(redacted(ctx, principal_of(request), [ctx.datasets.get_version(_name(name), version)])[0])


@router.delete(V, status_code=204)
def delete_version(request: Request, name: Name, version: Version) -> Response:
    ctx_of(request).datasets.delete_version(_name(name), version)
    return Response(status_code=204)


@router.get(V + "/files")
def list_files(
    request: Request, name: Name, version: Version, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0
) -> Response:
    """Rows ``[path, sha256, size, rows, pack, offset]``, by path (a chunked file's row adds
    ``[[chunk sha256, size]...]``)."""
    store, name = ctx_of(request).datasets, _name(name)

    def read(n: int, at: int) -> Sequence[object]:
        return [file_row(f) for f in store.list_files(name, version, limit=n, offset=at)]

    return _page("files", read, limit, offset)


@router.get(V + "/uses")
def version_uses(
    request: Request, name: Name, version: Version, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0
) -> Response:
    store, name = ctx_of(request).datasets, _name(name)
    return _page("uses", lambda n, at: store.version_uses(name, version, limit=n, offset=at), limit, offset)


@router.post(V + "/uses", status_code=204)
def record_use(request: Request, name: Name, version: Version, body: DatasetUseIn) -> Response:
    """A run read (``input``) or wrote (``output``) the version: needs run:write on the run."""
    ctx = ctx_of(request)
    check_run(ctx, principal_of(request).access, "run:write", body.run_id)
    ctx.datasets.record_use(
        DatasetUse(_name(name), version, body.run_id, body.direction, body.at, body.task_id)
    )
    return Response(status_code=204)


@router.put(D + "/aliases/{alias}")
def set_alias(request: Request, name: Name, alias: Alias, body: DatasetAliasIn) -> Response:
    user = acting_user(request, body.user)
    ctx = ctx_of(request)
    found = ctx.datasets.set_alias(
        _name(name), validate_alias_name(alias, new=True), body.version, user=user, at=body.at
    )
    return wire(redacted(ctx, principal_of(request), [found])[0])


@router.delete(D + "/aliases/{alias}", status_code=204)
def delete_alias(request: Request, name: Name, alias: Alias) -> Response:
    ctx_of(request).datasets.delete_alias(_name(name), validate_alias_name(alias))
    return Response(status_code=204)


@router.get(D + "/aliases/{alias}")
def resolve_alias(request: Request, name: Name, alias: Alias) -> Response:
    ctx = ctx_of(request)
    found = ctx.datasets.resolve_alias(_name(name), validate_alias_name(alias))
    return wire(redacted(ctx, principal_of(request), [found])[0])


@router.get("/runs/{run_id}/dataset-uses")
def run_uses(request: Request, run_id: str, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0) -> Response:
    store = ctx_of(request).datasets
    return _page("uses", lambda n, at: store.run_uses(run_id, limit=n, offset=at), limit, offset)
