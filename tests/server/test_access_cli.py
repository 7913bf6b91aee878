"""`shipyard users | service-accounts | groups | roles | bindings | audit | whoami` against a live server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from shipyard.cli.main import main
from tests.server.live import LiveServer


@pytest.fixture
def cli(server: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHIPYARD_URI", server.url)
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_the_access_commands_round_trip(cli, server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert cli("users", "create", "ann", "--role", "viewer")[0] == 0
    assert cli("service-accounts", "create", "ci-bot")[0] == 0
    code, out, _ = cli("service-accounts", "list", "--json")
    assert code == 0 and [u["name"] for u in json.loads(out)] == ["ci-bot"]
    assert cli("roles", "create", "approver", "-p", "model:read", "-p", "model:approve")[0] == 0
    code, _, err = cli("roles", "create", "bad", "-p", "model:fly")
    assert code == 1 and "unknown permission(s) model:fly" in err and "Traceback" not in err
    assert cli("groups", "create", "reviewers")[0] == 0
    assert cli("groups", "add", "reviewers", "ann")[0] == 0
    assert cli("bindings", "create", "reviewers", "approver", "--group")[0] == 0
    code, _, err = cli("bindings", "create", "ci-bot", "developer", "--scope", "Project:X")
    assert code == 1 and "invalid scope 'Project:X'" in err
    assert cli("bindings", "create", "ci-bot", "developer", "--scope", "project:fraud")[0] == 0
    code, out, _ = cli("bindings", "list", "--principal", "ci-bot", "--json")
    assert [(b["role"], b["scope"]) for b in json.loads(out)] == [("developer", "project:fraud")]
    code, out, _ = cli("tokens", "create", "--user", "ci-bot", "--scope", "project:fraud", "-p", "run:write")
    token = out.strip().splitlines()[-1]
    monkeypatch.setenv("SHIPYARD_TOKEN", token)
    code, out, _ = cli("whoami", "--json")
    who = json.loads(out)
    assert code == 0 and who["user"] == "ci-bot" and who["token_scope"] == "project:fraud"
    assert who["token_permissions"] == ["run:write"]
    code, _, err = cli("audit", "list")
    assert code == 1 and "audit:read" in err
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
    code, out, _ = cli("audit", "list", "--who", "admin", "--what", "/bindings", "--json")
    assert code == 0 and [e["status"] for e in json.loads(out)] == [201, 400, 201]  # refusals are audited too
    assert cli("projects", "create", "fraud", "--private")[0] == 0
    code, out, _ = cli("projects", "list", "--json")
    assert [(p["name"], p["private"]) for p in json.loads(out)] == [("fraud", True)]
    assert cli("projects", "set-private", "fraud", "false")[0] == 0
    code, _, err = cli("projects", "create", "Bad Name")
    assert code == 1 and "invalid project name 'Bad Name'" in err
    code, out, _ = cli("audit", "verify")
    assert code == 0 and out.startswith("ok:")
    db = Path(str(server.settings.uri).removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_events SET status = 200 WHERE id = (SELECT MIN(id) FROM audit_events)")
    code, out, _ = cli("audit", "verify")
    assert code == 1 and "TAMPERED" in out


def test_access_commands_need_a_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHIPYARD_URI", raising=False)
    assert main(["users", "list"]) == 1
    assert "live on a shipyard server" in capsys.readouterr().err
