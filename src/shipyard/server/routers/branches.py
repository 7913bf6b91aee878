"""The branch registry (:class:`~shipyard.metadata.branches.BranchStore` over HTTP).

Listing needs ``run:read`` (a private project's branches are left out for whoever may not see
it). Recording a branch needs ``run:write`` and deleting one ``run:delete``, both at the branch's
scope ``project:P/branch:B`` (the guard decides: :func:`shipyard.server.access.check_branch`);
who recorded or deleted it is the token's principal. Deleting marks the branch only: the client
(``shipyard branches delete``) removes its deployments and marks its runs and model versions
through their own routes, each decided there.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shipyard.core.branches import validate_branch
from shipyard.metadata.branches import BranchStore, open_branch_store
from shipyard.server.contract import JSON_INT_MAX
from shipyard.server.deps import ctx_of, once, principal_of, wire
from shipyard.server.paging import LIST_PAGE_DEFAULT, LIST_PAGE_MAX, check_list_page, split_page
from shipyard.server.schemas import BranchName, ProjectName

router = APIRouter(prefix="/api/v1", tags=["branches"], dependencies=once())
_Limit = Annotated[int, Query(ge=1, le=LIST_PAGE_MAX)]
_Offset = Annotated[int, Query(ge=0, le=JSON_INT_MAX)]


def _store(request: Request) -> BranchStore:
    return open_branch_store(ctx_of(request).stores.metadata)


@router.get("/branches")
def list_branches(
    request: Request,
    project: ProjectName | None = None,
    include_deleted: bool = False,
    limit: _Limit = LIST_PAGE_DEFAULT,
    offset: _Offset = 0,
) -> Response:
    """Branches by project then name (deleted ones with ``include_deleted``), without the private
    projects the caller may not see."""
    check_list_page(limit, offset)
    hidden = set(principal_of(request).access.hidden_projects())
    if project is not None and project in hidden:
        return wire({"branches": [], "next_offset": None})
    rows = [
        b
        for b in _store(request).list_branches(project, include_deleted=include_deleted)
        if b.project not in hidden
    ]
    page, next_offset = split_page(rows[offset : offset + limit + 1], limit, offset)
    return wire({"branches": page, "next_offset": next_offset})


@router.put("/branches/{project}/{branch}")
def record_branch(request: Request, project: ProjectName, branch: BranchName) -> Response:
    """Record the branch (idempotent; a deleted branch is live again)."""
    made = _store(request).record(project, validate_branch(branch), by=principal_of(request).name)
    return wire({"branch": made})


@router.get("/branches/{project}/{branch}")
def get_branch(request: Request, project: ProjectName, branch: BranchName) -> Response:
    return wire({"branch": _store(request).get_branch(project, validate_branch(branch))})


@router.delete("/branches/{project}/{branch}")
def delete_branch(request: Request, project: ProjectName, branch: BranchName) -> Response:
    """Mark the branch deleted (404 when it was never recorded)."""
    done = _store(request).mark_deleted(project, validate_branch(branch), by=principal_of(request).name)
    return wire({"branch": done})
