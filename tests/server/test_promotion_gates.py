"""``POST /api/v1/deploy/{project}/{environment}/promotions/evaluate``: the team server judges a
promotion's five gates from its stores and its own prediction log (never a path from the client),
needs what promoting needs (``deploy:apply``, which the promote action grants), is audited and
writes nothing; ``shipyard promote`` against a server uses it, so the runner needs no log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.cli.main import main
from shipyard.deploy import experiments as ex
from shipyard.server.app import ServerConfig
from tests.deploy.promotion_world import build
from tests.server.access_helpers import client_for
from tests.server.live import LiveServer, live_server

URL = "/api/v1/deploy/fraud/production/promotions/evaluate"
GATES = ("experiment", "approval", "monitors", "card", "ci")
ASK = {"service": "api", "challenger": "models:/fraud/2"}


@contextmanager
def world(root: Path, brk: str | None = None) -> Iterator[tuple[LiveServer, httpx.Client]]:
    """A live server whose stores and whose own prediction log hold the promotion's world."""
    with live_server(root, ServerConfig(token_cache_s=0.0, auth_failures=10_000)) as live:
        build(live.stores, live.settings.home / "predictions", brk)
        with client_for(live, live.token) as admin:
            yield live, admin


def served(live: LiveServer) -> str | None:
    objects = live.app.state.ctx.delivery.list_objects("fraud", "production")
    return next(o.model_version for o in objects if o.kind == "service")


def machine_token(admin: httpx.Client, *actions: str) -> str:
    admin.post("/api/v1/users", json={"name": "ci", "role": None, "kind": "service"}).raise_for_status()
    binding = {"principal": "ci", "role": "maintainer", "scope": "project:fraud"}
    admin.post("/api/v1/bindings", json=binding).raise_for_status()
    body = {
        "name": "gh",
        "user": "ci",
        "project": "fraud",
        "environment": "production",
        "actions": list(actions),
    }
    made = admin.post("/api/v1/tokens", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def audit(live: LiveServer) -> list[Any]:
    ctx = live.app.state.ctx
    ctx.audit.flush()
    return [e for e in ctx.security.list_audit(limit=1000) if e.action == f"POST {URL_TEMPLATE}"]


URL_TEMPLATE = "/api/v1/deploy/{project}/{environment}/promotions/evaluate"


@pytest.mark.slow  # a live server, a real log and labels
@pytest.mark.parametrize(
    ("brk", "gate", "says"),
    [
        ("experiment", "experiment", "needs 'better' or 'not worse'"),
        ("approval", "approval", "own author 'bob'"),
        ("role", "approval", "holds none of maintainer"),
        ("monitors", "monitors", "open alert"),
        ("card", "card", "lacks: intended use"),
        ("ci", "ci", "status 'failure'"),
    ],
)
def test_each_gate_refuses_through_the_api(tmp_path: Path, brk: str, gate: str, says: str) -> None:
    with world(tmp_path, brk) as (live, admin):
        answer = admin.post(URL, json=ASK)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ok"] is False
        assert [g["gate"] for g in body["gates"]] == ["experiment", "approval", "monitors", "card", "ci"]
        failed = [g for g in body["gates"] if not g["ok"]]
        assert [g["gate"] for g in failed] == [gate] and says in failed[0]["message"]
        assert served(live) == "models:/fraud/1"  # judging writes nothing


@pytest.mark.slow
def test_a_passing_promotion_and_the_refusals(tmp_path: Path) -> None:
    with world(tmp_path) as (live, admin):
        before = len(live.app.state.ctx.delivery.list_releases("fraud", "production", limit=50))
        answer = admin.post(URL, json=ASK)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ok"] is True and all(g["ok"] for g in body["gates"])
        assert body["promotion"] == {
            "service": "api",
            "experiment": "v2",
            "from": "models:/fraud/1",
            "to": "models:/fraud/2",
        }
        assert body["gates"][0]["value"]["decision"] == "better"
        # nothing changed, no release written
        assert served(live) == "models:/fraud/1"
        assert len(live.app.state.ctx.delivery.list_releases("fraud", "production", limit=50)) == before
        # audited (route and status, never the body)
        events = audit(live)
        assert [(e.user, e.status) for e in events] == [("admin", 200)]

        # a client cannot name the log: the body takes no path
        sent = admin.post(URL, json={**ASK, "log_dir": str(tmp_path)})
        assert sent.status_code == 400 and sent.json()["error"]["code"] == "invalid_input"
        assert "log_dir" in sent.json()["error"]["message"]
        missing = admin.post(URL, json={**ASK, "service": "nope"})
        assert missing.status_code == 404 and "no service 'nope'" in missing.json()["error"]["message"]
        stranger = admin.post(URL, json={**ASK, "challenger": "feature-x"})
        assert stranger.status_code == 404 and "no experiment puts" in stranger.json()["error"]["message"]
        bad = admin.post(URL, json={**ASK, "challenger": "a b"})
        assert bad.status_code == 400

        with httpx.Client(base_url=live.url) as anon:
            assert anon.post(URL, json=ASK).status_code == 401

        documented = admin.get("/openapi.json").json()["paths"][URL_TEMPLATE]["post"]["responses"]
        for status in ("400", "401", "403", "404", "409", "422"):
            schema = documented[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, status


@pytest.mark.slow
def test_a_token_without_promote_gets_403_and_one_with_it_may_judge(tmp_path: Path) -> None:
    with world(tmp_path) as (live, admin):
        plan_only = machine_token(admin, "plan")
        with client_for(live, plan_only) as ci:
            refused = ci.post(URL, json=ASK)
        assert refused.status_code == 403, refused.text
        assert "deploy:apply" in refused.json()["error"]["message"]
        body = {
            "name": "gh2",
            "user": "ci",
            "project": "fraud",
            "environment": "production",
            "actions": ["promote"],
        }
        made = admin.post("/api/v1/tokens", json=body)
        assert made.status_code == 201, made.text
        with client_for(live, str(made.json()["token"])) as ci:
            allowed = ci.post(URL, json=ASK)
            elsewhere = ci.post("/api/v1/deploy/fraud/staging/promotions/evaluate", json=ASK)
        assert allowed.status_code == 200 and allowed.json()["ok"] is True
        assert elsewhere.status_code == 403  # narrowed to production
        assert sorted((e.user, e.status) for e in audit(live)) == [("ci", 200), ("ci", 403), ("ci", 403)]


@pytest.mark.slow
def test_the_cli_promotes_through_the_server_with_no_local_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with world(tmp_path / "server") as (live, _admin):
        client_home = tmp_path / "runner"  # no predictions folder at all
        monkeypatch.setenv("SHIPYARD_HOME", str(client_home))
        monkeypatch.setenv("SHIPYARD_URI", live.url)
        monkeypatch.setenv("SHIPYARD_TOKEN", live.token)
        monkeypatch.chdir(tmp_path)
        args = ["promote", "api", "--from", "models:/fraud/2", "--to", "production", "-p", "fraud"]
        capsys.readouterr()
        assert main([*args, "--log-dir", str(tmp_path)]) != 0  # a client path means nothing here
        assert "--log-dir is for a local database" in capsys.readouterr().err
        code = main([*args, "--json"])
        out = capsys.readouterr()
        assert code == 0, out.err
        done = json.loads(out.out)
        assert done["promoted"] is True and done["version"] == "models:/fraud/2"
        assert [g["gate"] for g in done["gates"] if g["ok"]] == [
            "experiment",
            "approval",
            "monitors",
            "card",
            "ci",
        ]
        assert not (client_home / "predictions").exists()
        assert served(live) == "models:/fraud/2"
        ctx = live.app.state.ctx
        assert ex.get_experiment(ctx.delivery, "fraud", "production", "v2").status == "promoted"
        assert [e.status for e in audit(live)] == [200]  # the gates were judged by the server


@pytest.mark.slow
def test_a_promote_token_cannot_write_a_promotion_the_server_refuses(tmp_path: Path) -> None:
    """The release's plan carries the client's verdict; with only the promote action the server
    judges the gates again before a service moves."""
    from shipyard.core.errors import PermissionDeniedError
    from shipyard.metadata.delivery import ObjectState, open_delivery_store
    from shipyard.metadata.rest.store import RestMetadataStore

    forged = {
        "promotion": {
            "service": "api",
            "experiment": "v2",
            "from": "models:/fraud/1",
            "to": "models:/fraud/2",
        },
        "gates": [{"gate": g, "ok": True, "value": None, "message": "trust me"} for g in GATES],
    }
    challenger = ObjectState("service", "api", {"model": "models:/fraud/2"}, "models:/fraud/2")
    with world(tmp_path / "ci", "ci") as (live, admin):
        token = machine_token(admin, "promote")
        delivery = open_delivery_store(RestMetadataStore(live.url, token=token))
        with pytest.raises(PermissionDeniedError, match="gates refuse this promotion: ci: status 'failure'"):
            ex.record(
                delivery, "fraud", "production", user="ci", what="promote", put=[challenger], plan=forged
            )
        assert served(live) == "models:/fraud/1"
    with world(tmp_path / "ok") as (live, admin):
        token = machine_token(admin, "promote")
        delivery = open_delivery_store(RestMetadataStore(live.url, token=token))
        other = ObjectState("service", "api", {"model": "models:/fraud/9"}, "models:/fraud/9")
        with pytest.raises(PermissionDeniedError, match="only, the experiment's challenger"):
            ex.record(delivery, "fraud", "production", user="ci", what="promote", put=[other], plan=forged)
        done = ex.record(
            delivery, "fraud", "production", user="ci", what="promote", put=[challenger], plan=forged
        )
        assert done.outcome == "applied" and served(live) == "models:/fraud/2"
