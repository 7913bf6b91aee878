"""The audit writer keeps events when a write fails; the UI cookie reads but never mutates."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from shipyard.core.errors import StorageError
from shipyard.metadata.security import AuditEvent, SecurityStore
from shipyard.server.audit import AuditLog
from tests.server.live import LiveServer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class _FlakyStore:
    def __init__(self) -> None:
        self.fail = True
        self.written: list[AuditEvent] = []

    def record_audit(self, events: list[AuditEvent]) -> None:
        if self.fail:
            raise StorageError("database is locked")
        self.written.extend(events)


def test_failed_audit_writes_are_kept_and_retried_in_order() -> None:
    store = _FlakyStore()
    log = AuditLog(store, interval_s=3600)  # type: ignore[arg-type]
    events = [AuditEvent(T0, "u", f"POST /x/{i}", f"/x/{i}", 201) for i in range(3)]
    log.record(events[0])
    log.record(events[1])
    with pytest.raises(StorageError):
        log.flush()
    log.record(events[2])
    store.fail = False
    log.close()
    assert store.written == events


def test_the_cookie_reads_but_cannot_mutate(server: LiveServer) -> None:
    cookies = {"shipyard_token": server.token}
    with httpx.Client(base_url=server.url, cookies=cookies) as browser:
        assert browser.get("/api/v1/whoami").status_code == 200
        refused = browser.post("/api/v1/users", json={"name": "mallory", "role": "admin"})
        assert refused.status_code == 401
        assert browser.delete("/api/v1/runs/" + "a" * 32).status_code == 401


def test_security_store_round_trip(server: LiveServer) -> None:
    from shipyard.metadata.security import open_security_store

    store: SecurityStore = open_security_store(server.stores.metadata)
    store.record_audit([AuditEvent(T0, "zoe", "DELETE /api/v1/runs/{run_id}", "/api/v1/runs/r", 204)])
    got = store.list_audit(limit=1, user="zoe")
    assert [(e.user, e.at, e.status) for e in got] == [("zoe", T0, 204)]
