"""Token lifecycle: create (shown once, stored hashed), list, revoke, expire; the admin bootstrap;
audit events for mutations."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shipyard.core.errors import ConfigurationError
from shipyard.metadata.security import open_security_store
from shipyard.security.tokens import hash_token, looks_like_token, parse_duration
from shipyard.server.accounts import add_user, bootstrap_admin
from tests.server.live import LiveServer


def _db(server: LiveServer) -> Path:
    return server.settings.home / "shipyard.db"


def test_create_list_revoke(server: LiveServer, admin: httpx.Client) -> None:
    made = admin.post("/api/v1/tokens", json={"name": "ci"})
    assert made.status_code == 201
    value, record = made.json()["token"], made.json()["record"]
    assert looks_like_token(value) and value.startswith("shp_")
    assert "token_hash" not in record and record["prefix"] == value[:12]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {value}"}) as mine:
        assert mine.get("/api/v1/whoami").json()["user"] == "admin"
        listed = mine.get("/api/v1/tokens").json()["tokens"]
        assert record["id"] in [t["id"] for t in listed]
        assert all("token_hash" not in t for t in listed)
        assert admin.delete(f"/api/v1/tokens/{record['id']}").status_code == 200
        refused = mine.get("/api/v1/whoami")
        assert refused.status_code == 401
    listed = admin.get("/api/v1/tokens").json()["tokens"]
    assert [t["active"] for t in listed if t["id"] == record["id"]] == [False]


def test_tokens_are_stored_only_hashed(server: LiveServer, admin: httpx.Client) -> None:
    value = admin.post("/api/v1/tokens", json={"name": "x"}).json()["token"]
    with sqlite3.connect(_db(server)) as conn:
        rows = conn.execute("SELECT token_hash, prefix FROM api_tokens").fetchall()
    assert (hash_token(value), value[:12]) in rows
    raw = _db(server).read_bytes()
    assert value.encode() not in raw and server.token.encode() not in raw


def test_tokens_expire(server: LiveServer, admin: httpx.Client) -> None:
    made = admin.post("/api/v1/tokens", json={"name": "short", "expires_in_s": 3}).json()
    headers = {"Authorization": f"Bearer {made['token']}"}
    assert httpx.get(f"{server.url}/api/v1/whoami", headers=headers).status_code == 200
    expires = datetime.fromisoformat(made["record"]["expires_at"])
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    assert httpx.get(f"{server.url}/api/v1/whoami", headers=headers).status_code == 401


def test_users_see_and_revoke_only_their_own_tokens(server: LiveServer, admin: httpx.Client) -> None:
    admin.post("/api/v1/users", json={"name": "wes", "role": "writer"}).raise_for_status()
    wes_token = admin.post("/api/v1/tokens", json={"user": "wes"}).json()["token"]
    admin_extra = admin.post("/api/v1/tokens", json={"name": "other"}).json()["record"]["id"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {wes_token}"}) as wes:
        assert {t["user"] for t in wes.get("/api/v1/tokens").json()["tokens"]} == {"wes"}
        assert wes.get("/api/v1/tokens", params={"all": True}).status_code == 403
        assert wes.delete(f"/api/v1/tokens/{admin_extra}").status_code == 404
        assert wes.post("/api/v1/tokens", json={"user": "admin"}).status_code == 403
        assert wes.get("/api/v1/users").status_code == 403
    assert admin.get("/api/v1/whoami").status_code == 200


def test_mutations_leave_audit_events(server: LiveServer, admin: httpx.Client) -> None:
    admin.post("/api/v1/users", json={"name": "ann", "role": "reader"}).raise_for_status()
    assert admin.delete("/api/v1/runs/" + "f" * 32).status_code == 404
    events = admin.get("/api/v1/audit").json()["events"]
    assert [(e["user"], e["action"], e["status"]) for e in events[:2]] == [
        ("admin", "DELETE /api/v1/runs/{run_id}", 404),
        ("admin", "POST /api/v1/users", 201),
    ]
    assert events[0]["target"] == "/api/v1/runs/" + "f" * 32
    assert all("shp_" not in str(e) for e in events)


def test_bootstrap_prints_a_fresh_admin_token_once(tmp_path: Path) -> None:
    from shipyard.metadata.sql import SqlMetadataStore

    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        security = open_security_store(store)
        said: list[str] = []
        bootstrap_admin(security, None, said.append)
        assert len(said) == 1 and "SHIPYARD_TOKEN=shp_" in said[0]
        value = said[0].split("SHIPYARD_TOKEN=")[1].split()[0]
        found = security.find_token(hash_token(value))
        assert found is not None and found[1].name == "admin"
        pairs, _ = security.access_rows("admin")
        assert pairs == [("admin", "*")]
        bootstrap_admin(security, None, said.append)  # second start: nothing printed
        assert len(said) == 1
        with pytest.raises(ConfigurationError, match="SHIPYARD_ADMIN_TOKEN"):
            bootstrap_admin(security, "hunter2", said.append)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("2w", 1209600)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "0h", "1y", "1.5d"])
def test_parse_duration_rejects(text: str) -> None:
    from shipyard.core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="duration"):
        parse_duration(text)


def test_tokens_cli_on_a_local_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a server, `shipyard tokens` acts on the database directly (operator recovery)."""
    import json

    from shipyard.cli.main import main
    from shipyard.core.settings import load_settings
    from shipyard.tracking.stores import open_stores

    stores = open_stores(load_settings())
    try:
        add_user(open_security_store(stores.metadata), "admin", "admin", by="test")
    finally:
        stores.close()
    assert main(["tokens", "create", "--name", "ops", "--expires-in", "2w"]) == 0
    value = capsys.readouterr().out.strip().splitlines()[-1]
    assert looks_like_token(value)
    assert main(["tokens", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["user"], r["active"]) for r in rows] == [("ops", "admin", True)]
    assert main(["tokens", "revoke", rows[0]["id"]]) == 0
    capsys.readouterr()
    assert main(["tokens", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["active"] is False
    assert main(["tokens", "create", "--expires-in", "soon"]) == 1
    assert "invalid duration 'soon'" in capsys.readouterr().err
