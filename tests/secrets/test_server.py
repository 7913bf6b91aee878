"""Secrets through a live server: who may set, read, list and delete them (secret:read / secret:write
at project:P/env:E), every read of a value is audited, and no value reaches an error, a log line or
the audit log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.server.app import ServerConfig
from tests.secrets.conftest import b64, new_key
from tests.server.access_helpers import client_for, make_user
from tests.server.live import LiveServer, live_server

VALUE = "s3cr3t-3c1d9a-NEVER-SHOWN"
API = "/api/v1/secrets"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", b64(new_key()))
    with live_server(tmp_path, ServerConfig(token_cache_s=0.0)) as s:
        yield s


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with client_for(server, server.token) as client:
        yield client


def _denied(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def _all_attempts(client: httpx.Client, project: str, env: str) -> list[httpx.Response]:
    one = f"{API}/{project}/{env}/db"
    return [
        client.put(one, json={"value": VALUE}),
        client.get(one),
        client.get(f"{API}/{project}/{env}"),
        client.delete(one),
    ]


def test_viewers_and_developers_are_refused_maintainers_allowed(
    server: LiveServer, admin: httpx.Client
) -> None:
    tokens = {role: make_user(admin, f"u-{role}", role) for role in ("viewer", "developer", "maintainer")}
    with client_for(server, tokens["maintainer"]) as mia:
        made = mia.put(f"{API}/fraud/prod/db", json={"value": VALUE})
        assert made.status_code == 201, made.text
        assert made.json()["version"] == 1 and made.json()["updated_by"] == "u-maintainer"
        assert VALUE not in made.text
    for role in ("viewer", "developer"):
        with client_for(server, tokens[role]) as client:
            for response in _all_attempts(client, "fraud", "prod"):
                assert _denied(response), f"{role}: {response.request.method} {response.status_code}"
                assert "secret:" in response.json()["error"]["message"]
                assert VALUE not in response.text
    with client_for(server, tokens["maintainer"]) as mia:
        read = mia.get(f"{API}/fraud/prod/db")
        assert read.status_code == 200 and read.json()["value"] == VALUE
        assert read.headers["cache-control"] == "no-store"
        listed = mia.get(f"{API}/fraud/prod")
        assert [s["name"] for s in listed.json()["secrets"]] == ["db"]
        assert VALUE not in listed.text and "value" not in listed.json()["secrets"][0]
        again = mia.put(f"{API}/fraud/prod/db", json={"value": "v2"})
        assert again.status_code == 200 and again.json()["version"] == 2
        assert mia.delete(f"{API}/fraud/prod/db").status_code == 204
        gone = mia.get(f"{API}/fraud/prod/db")
        assert (
            gone.status_code == 404 and "shipyard secrets list fraud prod" in gone.json()["error"]["message"]
        )


def test_a_binding_at_one_environment_reaches_only_that_environment(
    server: LiveServer, admin: httpx.Client
) -> None:
    for env in ("staging", "production"):
        admin.put(f"{API}/fraud/{env}/db", json={"value": f"{VALUE}-{env}"}).raise_for_status()
    admin.put(f"{API}/churn/staging/db", json={"value": VALUE}).raise_for_status()
    token = make_user(admin, "stan", None)
    bound = {"principal": "stan", "role": "maintainer", "scope": "project:fraud/env:staging"}
    admin.post("/api/v1/bindings", json=bound).raise_for_status()
    with client_for(server, token) as stan:
        assert stan.get(f"{API}/fraud/staging/db").json()["value"] == f"{VALUE}-staging"
        assert stan.get(f"{API}/fraud/staging").status_code == 200
        assert stan.put(f"{API}/fraud/staging/api", json={"value": "k"}).status_code == 201
        for response in [
            *_all_attempts(stan, "fraud", "production"),
            *_all_attempts(stan, "churn", "staging"),
        ]:
            assert _denied(response), f"{response.request.method} {response.request.url}"
            assert VALUE not in response.text
        # look-alikes of the bound environment are other scopes, refused before any lookup
        for env in ("Staging", "staging-2", "stagin"):
            assert _denied(stan.get(f"{API}/fraud/{env}/db")), env
    assert admin.get(f"{API}/fraud/production/db").json()["value"] == f"{VALUE}-production"


def test_every_read_is_audited_and_no_value_reaches_the_audit_log_or_the_logs(
    server: LiveServer, admin: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = make_user(admin, "mia", "maintainer")
    with client_for(server, token) as mia:
        mia.put(f"{API}/fraud/prod/db", json={"value": VALUE}).raise_for_status()
        read = mia.get(f"{API}/fraud/prod/db", headers={"X-Request-ID": "req-42"})
        assert read.json()["value"] == VALUE
        assert mia.get(f"{API}/fraud/prod/nope").status_code == 404
        too_long = mia.put(f"{API}/fraud/prod/db", json={"value": VALUE * 3000})
        assert too_long.status_code == 400 and VALUE not in too_long.text
        unknown = mia.put(f"{API}/fraud/prod/db", json={"value": VALUE, "extra": VALUE})
        assert unknown.status_code == 400 and VALUE not in unknown.text
        mia.get(f"{API}/fraud/prod").raise_for_status()
    audit = admin.get("/api/v1/audit", params={"limit": 1000})
    events = audit.json()["events"]
    reads = [e for e in events if e["action"] == "READ secret"]
    assert [(e["user"], e["target"], e["status"]) for e in reversed(reads)] == [
        ("mia", f"{API}/fraud/prod/db", 200),
        ("mia", f"{API}/fraud/prod/nope", 404),
    ]
    assert reads[-1]["scope"] == "project:fraud/env:prod" and reads[-1]["request_id"] == "req-42"
    assert any(e["action"] == f"PUT {API}/{{project}}/{{environment}}/{{name}}" for e in events)
    assert not any(e["action"] == f"GET {API}/{{project}}/{{environment}}" for e in events)  # lists
    assert VALUE not in audit.text
    assert admin.get("/api/v1/audit/verify").json()["ok"] is True
    assert all(VALUE not in r.getMessage() and VALUE not in (r.exc_text or "") for r in caplog.records)


def test_bad_names_are_one_line_400s(server: LiveServer, admin: httpx.Client) -> None:
    for path in (f"{API}/Fraud/prod/db", f"{API}/fraud/prod/db-pass", f"{API}/fraud/prod/DB"):
        response = admin.put(path, json={"value": VALUE})
        assert response.status_code == 400, path
        assert response.json()["error"]["message"].startswith("invalid ")


def test_a_server_without_a_key_says_how_to_make_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_SECRETS_KEY", raising=False)
    with live_server(tmp_path) as server, client_for(server, server.token) as admin:
        response = admin.put(f"{API}/fraud/prod/db", json={"value": VALUE})
        assert response.status_code == 503 and "retry-after" not in response.headers
        assert response.json()["error"]["code"] == "not_configured"
        message = response.json()["error"]["message"]
        assert "no secrets key configured" in message and "os.urandom(32)" in message
        assert admin.get("/api/v1/runs").status_code == 200  # everything else works
