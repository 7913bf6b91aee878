"""``GET /api/v1/deploy/{project}/{environment}/experiments/{name}/analysis``: the team server
analyses an experiment over its own prediction log (never a path from the client), with what
reading the experiment needs (``deploy:plan`` at the environment); ``shipyard experiment status``
and ``check`` against a server use it, so a runner needs no log and prints what an embedded run
over the same database and log prints."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.cli.main import main
from shipyard.deploy import experiments as ex
from shipyard.experiments.config import ExperimentSpec
from shipyard.experiments.runner import result_of
from shipyard.server.app import ServerConfig
from tests.deploy.promotion_world import build
from tests.server.access_helpers import client_for
from tests.server.live import LiveServer, live_server

TEMPLATE = "/api/v1/deploy/{project}/{environment}/experiments/{name}/analysis"
URL = "/api/v1/deploy/fraud/production/experiments/v2/analysis"


@contextmanager
def world(root: Path) -> Iterator[tuple[LiveServer, httpx.Client]]:
    """A live server whose stores and own prediction log hold experiment ``v2`` (3000 rows)."""
    with live_server(root, ServerConfig(token_cache_s=0.0, auth_failures=10_000)) as live:
        build(live.stores, live.settings.home / "predictions")
        with client_for(live, live.token) as admin:
            yield live, admin


def local(live: LiveServer) -> dict[str, Any]:
    """The in-process analysis over the server's database and log, now."""
    spec = ex.get_experiment(live.app.state.ctx.delivery, "fraud", "production", "v2")
    log_dir = str(live.settings.home / "predictions")
    return ex.analyse(live.stores, "v2", spec, log_dir).to_dict()


def same_looks(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the last window's end (the moment the analysis ran, "now")."""
    out = copy.deepcopy(data)
    for metric in out["metrics"]:
        if metric["windows"]:
            metric["windows"][-1].pop("end")
    return out


def between(got: dict[str, Any], take: Any) -> None:
    """``got`` equals an analysis taken just before or just after it (a window boundary may pass)."""
    before, after = take(), None
    if same_looks(got) != same_looks(before):
        after = take()
    assert same_looks(got) in (same_looks(before), same_looks(after or before))


def token(admin: httpx.Client, name: str, environment: str, *actions: str) -> str:
    """A machine token of a maintainer of the project, narrowed to ``environment`` and ``actions``."""
    admin.post("/api/v1/users", json={"name": name, "role": None, "kind": "service"}).raise_for_status()
    binding = {"principal": name, "role": "maintainer", "scope": "project:fraud"}
    admin.post("/api/v1/bindings", json=binding).raise_for_status()
    body = {
        "name": name,
        "user": name,
        "project": "fraud",
        "environment": environment,
        "actions": list(actions),
    }
    made = admin.post("/api/v1/tokens", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


@pytest.mark.slow  # a live server, a real log and labels
def test_the_analysis_through_the_api_is_the_in_process_one(tmp_path: Path) -> None:
    with world(tmp_path) as (live, admin):
        answer = admin.get(URL)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        got = body["analysis"]
        assert got["name"] == "v2" and got["requests"][0] > 1000 and got["decision"] == "better"
        assert len(got["metrics"][0]["windows"]) >= 3
        between(got, lambda: local(live))
        # the answer rebuilds the very result the CLI prints
        rebuilt = result_of(ExperimentSpec.model_validate(body["spec"]), got)
        assert rebuilt.to_dict() == got
        assert body["spec"]["challenger"] == "models:/fraud/2" and body["spec"]["status"] == "running"

        missing = admin.get("/api/v1/deploy/fraud/production/experiments/nope/analysis")
        assert missing.status_code == 404, missing.text
        assert "no experiment 'nope' in fraud/production (experiments there: v2)" in missing.text
        assert admin.get("/api/v1/deploy/fraud/staging/experiments/v2/analysis").status_code == 404
        assert admin.get("/api/v1/deploy/fraud/production/experiments/A%20B/analysis").status_code == 400
        # a client cannot name the log: no query parameter takes a path, and none is read
        aimed = admin.get(URL, params={"log_dir": str(tmp_path)})
        assert aimed.status_code == 200 and aimed.json()["analysis"]["requests"] == got["requests"]

        with httpx.Client(base_url=live.url) as anon:
            assert anon.get(URL).status_code == 401
        documented = admin.get("/openapi.json").json()["paths"][TEMPLATE]["get"]["responses"]
        for status in ("400", "401", "403", "404"):
            schema = documented[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, status


@pytest.mark.slow
def test_reading_the_analysis_needs_deploy_plan_at_the_environment(tmp_path: Path) -> None:
    with world(tmp_path) as (live, admin):
        hook_only = token(admin, "hook", "production", "sync")  # deploy:sync, no read
        elsewhere = token(admin, "stage", "staging", "plan")  # reads staging, not production
        reader = token(admin, "reader", "production", "plan")
        for refused_token in (hook_only, elsewhere):
            with client_for(live, refused_token) as client:
                refused = client.get(URL)
            assert refused.status_code == 403, refused.text
            assert "deploy:plan" in refused.json()["error"]["message"]
        with client_for(live, reader) as client:
            allowed = client.get(URL)
            unknown = client.get("/api/v1/deploy/fraud/production/experiments/nope/analysis")
        assert allowed.status_code == 200 and allowed.json()["analysis"]["name"] == "v2"
        assert unknown.status_code == 404


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_the_cli_analyses_through_the_server_and_prints_what_embedded_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with world(tmp_path / "server") as (live, _admin):
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("COLUMNS", "200")
        status = ["experiment", "status", "v2", "-p", "fraud"]

        def embedded(*extra: str) -> str:
            """The same command in embedded mode over the server's own database and log."""
            with monkeypatch.context() as m:
                m.setenv("SHIPYARD_HOME", str(live.settings.home))
                m.setenv("SHIPYARD_URI", str(live.settings.uri))
                m.delenv("SHIPYARD_TOKEN", raising=False)
                code, out, err = cli(capsys, *status, *extra)
            assert code == 0, err
            return out

        client_home = tmp_path / "runner"  # no predictions folder, no database
        monkeypatch.setenv("SHIPYARD_HOME", str(client_home))
        monkeypatch.setenv("SHIPYARD_URI", live.url)
        monkeypatch.setenv("SHIPYARD_TOKEN", live.token)

        code, out, err = cli(capsys, *status, "--json")
        assert code == 0, err
        remote = json.loads(out)
        assert [e["name"] for e in remote["experiments"]] == ["v2"]
        assert remote["experiments"][0]["decision"] == "better"
        between(remote["experiments"][0], lambda: json.loads(embedded("--json"))["experiments"][0])

        code, text, err = cli(capsys, *status)
        assert code == 0, err
        assert "experiment v2 [running] api vs models:/fraud/2" in text and "decision: better" in text
        before = embedded()
        assert text == before or text == embedded()

        code, out, err = cli(capsys, "experiment", "status", "-p", "fraud", "--json")  # every one
        assert code == 0, err
        assert [e["name"] for e in json.loads(out)["experiments"]] == ["v2"]

        code, checked, err = cli(capsys, "experiment", "check", "v2", "-p", "fraud", "--json")
        assert code == 0, err  # no guardrail breached
        between(json.loads(checked), lambda: json.loads(embedded("--json"))["experiments"][0])

        for command in ("status", "check"):
            code, out, err = cli(
                capsys, "experiment", command, "v2", "-p", "fraud", "--log-dir", str(tmp_path)
            )
            assert code != 0 and out == ""
            said = err.strip().splitlines()
            assert len(said) == 1 and "--log-dir is for a local database" in said[0], err

        code, out, err = cli(capsys, "experiment", "status", "nope", "-p", "fraud")
        assert code != 0 and "no experiment 'nope'" in err
        assert not (client_home / "predictions").exists()
