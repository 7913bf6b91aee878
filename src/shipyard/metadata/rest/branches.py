"""``RestBranchStore``: :class:`BranchStore` over a shipyard server (``server/routers/branches.py``)."""

from __future__ import annotations

from shipyard.metadata.base import check_page
from shipyard.metadata.branches import Branch, BranchStore, check_branch_ref
from shipyard.metadata.rest.codec import decode
from shipyard.metadata.rest.http import RestSession, seg
from shipyard.metadata.rest.paging import follow_pages


def _path(project: str, name: str) -> str:
    check_branch_ref(project, name)
    return f"/branches/{seg(project)}/{seg(name)}"


class RestBranchStore(BranchStore):
    def __init__(self, session: RestSession) -> None:
        self._http = session

    def record(self, project: str, name: str, *, by: str) -> Branch:
        return decode(Branch, self._http.call("PUT", _path(project, name))["branch"])

    def get_branch(self, project: str, name: str) -> Branch:
        return decode(Branch, self._http.call("GET", _path(project, name))["branch"])

    def list_branches(
        self,
        project: str | None = None,
        *,
        include_deleted: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Branch]:
        check_page(limit, offset)
        params: dict[str, object] = {"include_deleted": "true" if include_deleted else "false"}
        if project is not None:
            params["project"] = project
        rows = follow_pages(self._http, "/branches", "branches", params, limit=limit, offset=offset)
        return [decode(Branch, row) for row in rows]

    def mark_deleted(self, project: str, name: str, *, by: str) -> Branch:
        return decode(Branch, self._http.call("DELETE", _path(project, name))["branch"])
