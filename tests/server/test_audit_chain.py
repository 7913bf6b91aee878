"""The audit log is a hash chain: `audit verify` passes on an untouched log and names the first event
that an edit, an insertion or a deletion made inconsistent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core.audit_chain import GENESIS, link, verify
from shipyard.metadata.security import AuditEvent
from tests.server.access_helpers import make_user, run_of
from tests.server.live import LiveServer


def _db(server: LiveServer) -> Path:
    return Path(str(server.settings.uri).removeprefix("sqlite:///"))


def _mutate(admin: httpx.Client, count: int) -> None:
    for i in range(count):
        run_of(admin, "admin")
        admin.post("/api/v1/groups", json={"name": f"g{i}"}).raise_for_status()


def test_verify_passes_then_catches_an_edit(server: LiveServer, admin: httpx.Client) -> None:
    _mutate(admin, 3)
    good = admin.get("/api/v1/audit/verify").json()
    assert good["ok"] is True and good["checked"] >= 6 and good["problem"] is None
    events = admin.get("/api/v1/audit", params={"limit": 2}).json()["events"]
    assert events[0]["request_id"] and events[0]["source"] == "127.0.0.1"
    with sqlite3.connect(_db(server)) as conn:
        (victim,) = conn.execute("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 2").fetchone()
        conn.execute("UPDATE audit_events SET user = 'someone-else' WHERE id = ?", (victim,))
    bad = admin.get("/api/v1/audit/verify").json()
    assert bad["ok"] is False and f"event {victim} " in bad["problem"]


@pytest.mark.parametrize("tamper", ["delete", "insert"])
def test_verify_catches_deleted_and_inserted_events(
    server: LiveServer, admin: httpx.Client, tamper: str
) -> None:
    _mutate(admin, 3)
    assert admin.get("/api/v1/audit/verify").json()["ok"] is True
    with sqlite3.connect(_db(server)) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM audit_events ORDER BY id")]
        if tamper == "delete":
            conn.execute("DELETE FROM audit_events WHERE id = ?", (ids[2],))
        else:  # a forged event slipped in with a copied chain value
            row = conn.execute("SELECT at, chain FROM audit_events WHERE id = ?", (ids[1],)).fetchone()
            conn.execute(
                "INSERT INTO audit_events (id, at, user, action, target, status, chain) "
                "VALUES (?, ?, 'mallory', 'DELETE x', '/x', 204, ?)",
                (ids[-1] + 1, row[0], row[1]),
            )
    verdict = admin.get("/api/v1/audit/verify").json()
    assert verdict["ok"] is False and verdict["problem"]


def test_audit_list_filters_and_pages(server: LiveServer, admin: httpx.Client) -> None:
    token = make_user(admin, "ann", "developer")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as ann:
        run_of(ann, "ann")
    mine = admin.get("/api/v1/audit", params={"user": "ann"}).json()["events"]
    assert [e["action"] for e in mine] == ["POST /api/v1/runs"]
    tokens = admin.get("/api/v1/audit", params={"action": "/tokens"}).json()["events"]
    assert tokens and all("/tokens" in e["action"] for e in tokens)
    page = admin.get("/api/v1/audit", params={"limit": 2}).json()
    older = admin.get("/api/v1/audit", params={"limit": 2, "before_id": page["next_before_id"]}).json()
    assert {e["id"] for e in older["events"]}.isdisjoint({e["id"] for e in page["events"]})


_texts = st.text(max_size=20)


@given(st.lists(st.tuples(_texts, _texts, st.integers(100, 599)), min_size=1, max_size=8), st.data())
def test_any_single_edit_breaks_the_chain(rows: list[tuple[str, str, int]], data: st.DataObject) -> None:
    from datetime import UTC, datetime

    events: list[AuditEvent] = []
    previous = GENESIS
    for i, (user, target, status) in enumerate(rows):
        event = AuditEvent(datetime(2026, 1, 1, tzinfo=UTC), user, "POST /x", target, status, id=i + 1)
        previous = link(previous, event)
        events.append(AuditEvent(**{**event.__dict__, "chain": previous}))
    assert verify(events).ok
    victim = data.draw(st.integers(0, len(events) - 1))
    edited = AuditEvent(**{**events[victim].__dict__, "status": events[victim].status + 1})
    assert not verify([*events[:victim], edited, *events[victim + 1 :]]).ok
    if len(events) > 1:
        assert not verify(events[:victim] + events[victim + 1 :]).ok or victim == len(events) - 1


def test_mutations_of_objects_carry_before_and_after_digests(server: LiveServer, admin: httpx.Client) -> None:
    import json

    from tests.server.access_helpers import NOW, model_of

    model_of(admin, "admin", "fraud")
    admin.patch("/api/v1/models/fraud", json={"description": "v2", "at": NOW}).raise_for_status()
    admin.patch("/api/v1/models/fraud", json={"description": "v2", "at": NOW}).raise_for_status()
    admin.delete("/api/v1/models/fraud").raise_for_status()
    events = admin.get("/api/v1/audit", params={"action": "/models/{name}"}).json()["events"]
    by_action = [(e["action"], json.loads(e["detail"])) for e in reversed(events) if e["detail"]]
    patches = [d for a, d in by_action if a.startswith("PATCH")]
    assert len(patches) == 2 and patches[0]["before"] != patches[0]["after"]  # the first one changed it
    assert patches[1]["after"] == patches[0]["after"]  # the same state again
    [deleted] = [d for a, d in by_action if a.startswith("DELETE")]
    assert deleted["before"] == patches[1]["after"] and deleted["after"] is None
    assert all("v2" not in json.dumps(d) for _, d in by_action)  # digests, never content
    assert admin.get("/api/v1/audit/verify").json()["ok"] is True


def test_a_mutations_event_is_in_the_log_once_its_answer_arrived(
    server: LiveServer, admin: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event is recorded before the answer's last byte leaves, however slow its digests are."""
    import time

    from shipyard.server import audit_state
    from tests.server.access_helpers import NOW, model_of

    model_of(admin, "admin", "fraud")
    real = audit_state.state_digest

    def slow(*args: object) -> str | None:
        time.sleep(0.3)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(audit_state, "state_digest", slow)
    admin.patch("/api/v1/models/fraud", json={"description": "x", "at": NOW}).raise_for_status()
    events = admin.get("/api/v1/audit", params={"limit": 1}).json()["events"]
    assert events[0]["action"] == "PATCH /api/v1/models/{name}" and events[0]["detail"]
