"""Following the server's paged list routes (``limit``/``offset`` in, ``next_offset`` out; see
``shipyard/server/paging.py``): one page when the caller gives ``limit``, else every page, each
request asking for at most ``LIST_PAGE_MAX`` rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.metadata.base import LIST_PAGE_MAX, check_page
from shipyard.metadata.rest.http import RestSession


def follow_pages(
    http: RestSession, path: str, field: str, params: Mapping[str, Any], *, limit: int | None, offset: int
) -> list[Any]:
    """The raw rows under ``field`` of the list at ``path`` from ``offset`` on: ``limit`` of them,
    or all when ``limit`` is None. InvalidInputError for a negative ``limit`` or ``offset``."""
    check_page(limit, offset)
    rows: list[Any] = []
    while True:
        want = LIST_PAGE_MAX if limit is None else min(LIST_PAGE_MAX, limit - len(rows))
        if want <= 0:
            return rows
        data = http.call("GET", path, params={**params, "limit": want, "offset": offset})
        rows.extend(data[field])
        if data.get("next_offset") is None:
            return rows
        following = int(data["next_offset"])
        if following <= offset:  # a server that does not move on: stop rather than loop
            return rows
        offset = following
