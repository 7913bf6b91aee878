"""``RestFeatureRecords``: :class:`FeatureRecords` over a shipyard server (routes in
``shipyard/server/routers/features.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shipyard.metadata.features import FeatureRecords, ViewRecord
from shipyard.metadata.rest.codec import decode
from shipyard.metadata.rest.http import RestSession, seg
from shipyard.metadata.rest.paging import follow_keyset, follow_pages


class RestFeatureRecords(FeatureRecords):
    def __init__(self, session: RestSession) -> None:
        self._http = session

    def apply_view(
        self, name: str, spec: Mapping[str, Any], *, project: str | None, by: str, at: datetime
    ) -> tuple[ViewRecord, bool]:
        # the server records who (the token's principal) and when (its clock)
        data = self._http.call(
            "POST", f"/features/views/{seg(name)}", {"spec": dict(spec), "project": project}
        )
        return decode(ViewRecord, data["view"]), bool(data["created"])

    def get_view(self, name: str, version: int | None = None) -> ViewRecord:
        params = {} if version is None else {"version": int(version)}
        return decode(
            ViewRecord, self._http.call("GET", f"/features/views/{seg(name)}", params=params)["view"]
        )

    def list_views(
        self, *, limit: int | None = None, offset: int = 0, after: str | None = None
    ) -> list[ViewRecord]:
        rows = follow_keyset(
            self._http, "/features/views", "views", {}, limit=limit, offset=offset, after=after
        )
        return [decode(ViewRecord, row) for row in rows]

    def view_versions(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[ViewRecord]:
        path = f"/features/views/{seg(name)}/versions"
        rows = follow_pages(self._http, path, "versions", {}, limit=limit, offset=offset)
        return [decode(ViewRecord, row) for row in rows]

    # ---- a decision the server makes (data policies; not part of the FeatureRecords interface) -----
    def read_access(self, name: str, project: str | None) -> dict[str, Any]:
        """What the caller may see of view ``name``'s columns: ``hidden``, ``masked`` (column ->
        method) and ``row_filter`` (the text, or None); ``project`` scopes a view not applied."""
        params = {} if project is None else {"project": project}
        found: dict[str, Any] = self._http.call("GET", f"/features/views/{seg(name)}/access", params=params)
        return found
