"""The SDK's keyset pager (metadata/rest/paging.follow_keyset): it continues from next_after, and
by next_offset from a server that answers no cursor (an older server), never stopping early."""

from __future__ import annotations

from typing import Any

from shipyard.metadata.rest.paging import follow_keyset

ROWS = [f"r{i:02d}" for i in range(7)]


class _Server:
    def __init__(self, cursor: bool) -> None:
        self.cursor = cursor
        self.asked: list[dict[str, Any]] = []

    def call(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        self.asked.append(dict(params))
        after = params.get("after")
        rest = [r for r in ROWS if after is None or r > after][params["offset"] :]
        page = rest[: params["limit"]]
        more = len(rest) > len(page)
        body: dict[str, Any] = {"rows": page, "next_offset": params["offset"] + len(page) if more else None}
        if self.cursor:
            body["next_after"] = page[-1] if more else None
        return body


def test_pages_follow_the_cursor_or_the_offset(monkeypatch: Any) -> None:
    import shipyard.metadata.rest.paging as paging

    monkeypatch.setattr(paging, "LIST_PAGE_MAX", 3)
    for cursor in (True, False):
        server = _Server(cursor)
        got = follow_keyset(server, "/x", "rows", {}, limit=None, offset=1, after=None)  # type: ignore[arg-type]
        assert got == ROWS[1:], cursor
        if cursor:  # after the first page only the cursor, never an offset again
            assert [(q["offset"], q.get("after")) for q in server.asked] == [(1, None), (0, "r03")]
        else:
            assert [q["offset"] for q in server.asked] == [1, 4]
    server = _Server(True)
    assert follow_keyset(server, "/x", "rows", {}, limit=2, offset=0, after="r02") == ["r03", "r04"]  # type: ignore[arg-type]
