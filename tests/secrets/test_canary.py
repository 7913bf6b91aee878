"""The secrets canary: a unique secret value, used by flow steps through a live server (one run
that succeeds and one that fails with the value in its error), is then searched for in every
table, blob, file, log record and API answer. Zero hits, except the one audited read of the value."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.core.settings import load_settings
from shipyard.runtime.api import RunOptions, run_file
from shipyard.runtime.stores import open_run_stores
from shipyard.server.app import ServerConfig
from tests.secrets.conftest import b64, new_key
from tests.server.access_helpers import client_for, make_user
from tests.server.live import LiveServer, live_server

FLOW = Path(__file__).resolve().parent / "flows" / "with_secrets.py"
# made when the tests run, never written in a source file: a run's code package holds the project's
# sources (this file among them), which must not count as a leak
CANARY = "canary-" + secrets.token_hex(6) + "-secret"


def _hits(data: bytes) -> bool:
    return any(
        form in data for form in (CANARY.encode(), CANARY.encode("utf-16-le"), CANARY.encode("utf-16-be"))
    )


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", b64(new_key()))
    with live_server(tmp_path / "srv", ServerConfig(token_cache_s=0.0)) as s:
        yield s


def test_the_canary_is_nowhere_but_in_its_one_audited_read(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with client_for(server, server.token) as admin:
        admin.put("/api/v1/secrets/fraud/staging/db_password", json={"value": CANARY}).raise_for_status()
        ci = make_user(admin, "ci", "developer")
        bound = {"principal": "ci", "role": "maintainer", "scope": "project:fraud/env:staging"}
        admin.post("/api/v1/bindings", json=bound).raise_for_status()
    monkeypatch.setenv("SHIPYARD_TOKEN", ci)
    settings = load_settings(
        home=tmp_path / "client", uri=server.url, project="fraud", environment="staging", user="ci"
    )
    stores = open_run_stores(settings)
    try:
        options = RunOptions(executor="local", max_workers=1)
        good = run_file(FLOW, {}, settings, options, "uses_secret")
        bad = run_file(FLOW, {}, settings, options, "fails_with_secret")
    finally:
        stores.close()
    assert good.status.value == "succeeded" and bad.status.value == "failed"
    answers: list[bytes] = []
    with client_for(server, server.token) as admin:
        for path in ("/api/v1/runs", "/api/v1/audit?limit=1000", "/api/v1/secrets/fraud/staging"):
            answers.append(admin.get(path).content)
        for run in (good.id, bad.id):
            answers.append(admin.get(f"/api/v1/runs/{run}").content)
            tasks = admin.get(f"/api/v1/runs/{run}/tasks").json()["tasks"]
            answers.append(str(tasks).encode())
            answers.append(admin.get(f"/api/v1/runs/{run}/artifacts").content)
            answers.append(admin.get(f"/ui/runs/{run}").content)
            for task in tasks:
                answers.append(admin.get(f"/ui/runs/{run}/tasks/{task['id']}/logs").content)
        events = admin.get("/api/v1/audit", params={"action": "READ secret"}).json()["events"]
        control = admin.get("/api/v1/secrets/fraud/staging/db_password").content
    assert _hits(control)  # the search does find the value where it legitimately is
    reads = [(e["user"], e["status"]) for e in events]
    assert reads == [("ci", 200), ("ci", 200)]  # one audited read per run
    assert not [i for i, a in enumerate(answers) if _hits(a)]
    files = [
        p
        for root in (server.settings.home, tmp_path / "client")
        for p in Path(root).rglob("*")
        if p.is_file()
    ]
    assert len(files) > 5  # the database (and its WAL), blobs of outputs and logs, the client's files
    assert [str(p) for p in files if _hits(p.read_bytes())] == []
    logged = [r for r in caplog.records if CANARY in r.getMessage() or CANARY in str(r.exc_info or "")]
    assert logged == []
