"""GET /api/v1/features/views pages in the database: keyset chunks filtered by data:read, an
``after`` cursor and ``next_after``, and the SDK follows that cursor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipyard.metadata.features import open_feature_records
from shipyard.metadata.rest.features import RestFeatureRecords
from shipyard.metadata.rest.http import RestSession
from tests.server.access_helpers import client_for, make_user
from tests.server.live import LiveServer, live_server

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as live:
        yield live


def test_the_views_list_pages_in_the_database_by_keyset(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shipyard.server.routers.features as route

    monkeypatch.setattr(route, "_SCAN", 3)
    records = open_feature_records(server.stores.metadata)
    reads: list[tuple[object, object]] = []
    real = type(records).list_views

    def counted(self: object, **kwargs: object) -> object:
        reads.append((kwargs.get("limit"), kwargs.get("after")))
        return real(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(type(records), "list_views", counted)
    for i in range(8):  # interleaved by name: a_00 b_00 c_00 a_01 ...
        for project in ("a", "b", "c"):
            spec = {"name": f"{project}_{i:02d}", "features": {"x": "float64"}}
            records.apply_view(f"{project}_{i:02d}", spec, project=project, by="admin", at=AT)
    records.apply_view("b_03", {"name": "b_03", "features": {"y": "int64"}}, project="b", by="admin", at=AT)
    with client_for(server, server.token) as admin:
        carol = make_user(admin, "carol", None)
        binding = {"principal": "carol", "role": "viewer", "scope": "project:b"}
        admin.post("/api/v1/bindings", json=binding).raise_for_status()
    seen: list[tuple[str, int]] = []
    with client_for(server, carol) as client:
        after: str | None = None
        while True:
            reads.clear()
            body = client.get(
                "/api/v1/features/views", params={"limit": 3, **({"after": after} if after else {})}
            )
            body.raise_for_status()
            page = body.json()
            assert len(page["views"]) <= 3
            assert reads and all(limit == 3 for limit, _ in reads)  # a chunk at a time
            assert reads[0][1] == after  # starts at the cursor: nothing before it read again
            seen += [(v["name"], v["version"]) for v in page["views"]]
            after = page["next_after"]
            assert (after is None) == (page["next_offset"] is None)
            if after is None:
                break
        assert seen == [(f"b_{i:02d}", 2 if i == 3 else 1) for i in range(8)]  # only b, latest, once
        skipped = client.get("/api/v1/features/views", params={"limit": 2, "offset": 3}).json()
        assert [v["name"] for v in skipped["views"]] == ["b_03", "b_04"]
        assert skipped["next_after"] == "b_04"
        assert client.get("/api/v1/features/views", params={"after": "no/slash"}).status_code == 400
        assert client.get("/api/v1/features/views", params={"limit": 0}).status_code == 400
    as_carol = RestFeatureRecords(RestSession(server.url, token=carol))
    assert [v.name for v in as_carol.list_views(limit=2, after="b_05")] == ["b_06", "b_07"]
    assert [v.name for v in as_carol.list_views()] == [f"b_{i:02d}" for i in range(8)]
