"""Following the server's paged list routes (``limit``/``offset`` in, ``next_offset`` out; see
``shipyard/server/paging.py``): one page when the caller gives ``limit``, else every page, each
request asking for at most ``LIST_PAGE_MAX`` rows. A list with a keyset cursor (``after`` in,
``next_after`` out) is followed by that cursor (:func:`follow_keyset`), so each page is read from
where the last one ended rather than from the start."""

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


def follow_keyset(
    http: RestSession,
    path: str,
    field: str,
    params: Mapping[str, Any],
    *,
    limit: int | None,
    offset: int,
    after: str | None,
) -> list[Any]:
    """Like :func:`follow_pages` for a route that also takes ``after`` and answers ``next_after``:
    the first request carries ``offset`` (and ``after`` when given), the next ones only the
    cursor the previous page ended at (or, from a server that answers no ``next_after``, the
    ``next_offset``)."""
    check_page(limit, offset)
    rows: list[Any] = []
    cursor = after
    while True:
        want = LIST_PAGE_MAX if limit is None else min(LIST_PAGE_MAX, limit - len(rows))
        if want <= 0:
            return rows
        query = {**params, "limit": want, "offset": offset}
        if cursor is not None:
            query["after"] = cursor
        data = http.call("GET", path, params=query)
        rows.extend(data[field])
        if data.get("next_offset") is None:
            return rows
        following = data.get("next_after")
        if following is None:  # a server without the cursor: go on by offset
            if int(data["next_offset"]) <= offset:  # a server that does not move on: stop
                return rows
            offset = int(data["next_offset"])
        elif following == cursor:
            return rows
        else:
            cursor, offset = str(following), 0
