"""The REST client follows list pages and keeps each row once even while rows arrive: alerts come
newest first, so one opened between two page requests pushes the rest one row on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shipyard.metadata import MetadataStore, open_metadata_store
from shipyard.metadata.monitoring import open_monitoring_records
from shipyard.metadata.rest import http, paging
from shipyard.metadata.rest.monitoring import RestMonitoringRecords
from tests.server.live import LiveServer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def metadata_store(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MetadataStore]:
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
    store = open_metadata_store(server.url)
    try:
        yield store
    finally:
        store.close()


def test_alerts_opened_while_pages_are_followed_come_once(
    server: LiveServer, metadata_store: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = open_monitoring_records(metadata_store)
    assert isinstance(records, RestMonitoringRecords)
    made = [records.create_alert("m", f"k{i}", T0, None, "x") for i in range(10)]
    monkeypatch.setattr(paging, "LIST_PAGE_MAX", 4)
    server_side = open_monitoring_records(server.stores.metadata)
    real = http.RestSession.call
    pages: list[dict[str, Any]] = []

    def call(self: Any, method: str, path: str, *args: Any, **kw: Any) -> Any:
        answer = real(self, method, path, *args, **kw)
        if path == "/monitoring/alerts" and method == "GET":
            pages.append(kw["params"])
            server_side.create_alert("m", f"late{len(pages)}", T0, None, "x")  # opens after this page
        return answer

    monkeypatch.setattr(http.RestSession, "call", call)
    got = records.alerts()
    assert len(pages) >= 3 and all(p["limit"] == 4 for p in pages)
    ids = [a.id for a in got]
    assert len(ids) == len(set(ids)), "an alert came twice"
    assert set(ids) >= {a.id for a in made}  # none of the alerts there at the start was skipped
    assert ids == sorted(ids, reverse=True)
