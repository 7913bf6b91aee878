"""Branch isolation (issue 17): a run, model version or dataset made on a branch lives in the
branch's namespace and never changes a production object — through the SDK (on a local database
and through a server), the REST API (the server's own check, whatever the client sends) and the
CLI; reading production from a branch is allowed; writing it is a one-line refusal."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from shipyard.cli.branches import branch_model_uri
from shipyard.cli.main import main
from shipyard.core.errors import InvalidInputError
from shipyard.core.settings import load_settings
from shipyard.data.service import DatasetService
from shipyard.metadata.branches import open_branch_store
from shipyard.registry.service import ModelRegistry
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import Stores, open_stores
from tests.server.access_helpers import make_user
from tests.server.live import LiveServer, live_server

NOW = datetime.now(UTC).isoformat()


@pytest.fixture(scope="module")
def model() -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier().fit(pd.DataFrame({"x": [0.0, 1.0]}), [0, 1])


@dataclass
class Sides:
    prod: Stores
    branch: Stores


def _production_state(stores: Stores) -> dict[str, Any]:
    """Everything production has: its runs, its model's versions and aliases, its dataset versions."""
    registry = ModelRegistry(stores)
    data = DatasetService(stores)
    runs = TrackingClient(stores).search_runs(namespaces=["project:fraud"], max_results=100)
    fraud = registry.get_model("fraud")
    return {
        "runs": sorted((r.id, r.name, tuple(sorted(r.tags.items()))) for r in runs),
        "model": (
            fraud.latest_version,
            fraud.project,
            sorted(fraud.aliases.items()) if fraud.aliases else None,
        ),
        "versions": [
            (v.version, v.run_id, tuple(sorted(v.tags.items()))) for v in registry.list_versions("fraud")
        ],
        "candidate": registry.resolve("models:/fraud@candidate").version,
        "dataset": [(v.version, v.num_rows) for v in data.store.list_versions("txns")],
    }


def _exercise(sides: Sides, model: Any) -> None:
    prod, branch = sides.prod, sides.branch
    # production's own objects, written off any branch
    prod_run = TrackingClient(prod).create_run("prod-train", namespace="project:fraud")
    ModelRegistry(prod).log_model(prod_run.id, model, "model", input_example=pd.DataFrame({"x": [0.5]}))
    ModelRegistry(prod).register(prod_run.id, "model", "fraud")
    ModelRegistry(prod).set_alias("fraud", "candidate", 1)
    DatasetService(prod).snapshot("txns", pd.DataFrame({"a": [1, 2]}))
    before = _production_state(prod)

    # the branch writes the same names: runs, a model version, an alias, a dataset version
    client = TrackingClient(branch)
    run = client.create_run("branch-train")
    assert run.namespace == "project:fraud/branch:feature-x"
    registry = ModelRegistry(branch)
    registry.log_model(run.id, model, "model", input_example=pd.DataFrame({"x": [0.5]}))
    version = registry.register(run.id, "model", "fraud")
    assert (version.model_name, version.version) == ("fraud:branch:feature-x", 1)
    registry.set_alias("fraud", "candidate", 1)  # the branch's own candidate
    registry.tag_version("fraud", 1, {"stage": "branch"})
    snap = DatasetService(branch).snapshot("txns", pd.DataFrame({"a": [1, 2, 3]}))
    assert snap.version.dataset_name == "txns:branch:feature-x"
    assert registry.get_model("fraud:branch:feature-x").project == "fraud"

    # reading production from the branch is allowed (compare, warm-start)
    assert registry.resolve("models:/fraud@candidate").model_name == "fraud"
    assert registry.load("models:/fraud@candidate").predict(pd.DataFrame({"x": [0.1]})) is not None
    assert [r.id for r in branch.metadata.search_runs(["project:fraud"]).runs] == [prod_run.id]

    # writing production from the branch: one-line refusals, nothing changes
    with pytest.raises(InvalidInputError, match=r"^on branch 'feature-x' runs are written only to"):
        client.create_run("sneaky", namespace="project:fraud")
    with pytest.raises(InvalidInputError, match="a model of branch 'other'"):
        registry.set_alias("fraud:branch:other", "candidate", 1)
    with pytest.raises(InvalidInputError, match="cannot go into project 'churn'"):
        registry.register(run.id, "model", "new", project="churn")

    # serve --branch: the branch's own model when it has one, production's otherwise
    assert branch_model_uri(branch, "models:/fraud@candidate") == "models:/fraud:branch:feature-x@candidate"
    assert branch_model_uri(branch, "models:/other/3") == "models:/other/3"
    assert branch_model_uri(prod, "models:/fraud@candidate") == "models:/fraud@candidate"

    assert _production_state(prod) == before
    branches = open_branch_store(prod.metadata).list_branches("fraud")
    assert [(b.name, b.namespace) for b in branches] == [("feature-x", "project:fraud/branch:feature-x")]


@pytest.mark.slow  # packages are written and loaded (the load check of set_alias) in this process
def test_sdk_on_a_local_database(tmp_path: Path, model: Any) -> None:
    common = {"home": tmp_path / "home", "project": "fraud", "user": "alice"}
    prod = open_stores(load_settings(**common))
    branch = open_stores(load_settings(**common, branch="feature-x"))
    try:
        _exercise(Sides(prod, branch), model)
    finally:
        branch.close()
        prod.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from shipyard.server.app import ServerConfig

    with live_server(tmp_path_factory.mktemp("srv"), ServerConfig(token_cache_s=0.0)) as running:
        yield running


@pytest.fixture(scope="module")
def dev_token(server: LiveServer) -> str:
    """A developer of project fraud (who may write production's runs and models off a branch)."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as admin:
        token = make_user(admin, "dev", None)
        admin.post(
            "/api/v1/bindings", json={"principal": "dev", "role": "developer", "scope": "project:fraud"}
        ).raise_for_status()
    return token


def test_sdk_through_a_server(server: LiveServer, dev_token: str, tmp_path: Path, model: Any) -> None:
    common = {"uri": server.url, "project": "fraud", "home": tmp_path / "client"}
    prod = open_stores(load_settings(**common, token=server.token, user="admin"))
    branch = open_stores(load_settings(**common, token=dev_token, user="dev", branch="feature-x"))
    try:
        _exercise(Sides(prod, branch), model)
    finally:
        branch.close()
        prod.close()


def _dev(server: LiveServer, token: str, branch: str | None = "feature-x") -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"}
    if branch is not None:
        headers["X-Shipyard-Branch"] = branch
    return httpx.Client(base_url=server.url, headers=headers)


def _version(client: httpx.Client, name: str) -> httpx.Response:
    body = {
        "package_digest": "0" * 64,
        "package_size": 1,
        "flavor": "sklearn",
        "created_by": "dev",
        "created_at": NOW,
        "project": "fraud",
    }
    return client.post(f"/api/v1/models/{name}/versions", json=body)


def _run(client: httpx.Client, namespace: str) -> httpx.Response:
    body = {"id": uuid.uuid4().hex, "name": "r", "namespace": namespace, "user": "dev", "start_time": NOW}
    return client.post("/api/v1/runs", json=body)


def _refused_on_branch(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    message = response.json()["error"]["message"]
    assert "on branch 'feature-x'" in message and "production" in message and "\n" not in message


def test_the_server_refuses_production_writes_from_a_branch(server: LiveServer, dev_token: str) -> None:
    """The same developer token: off a branch it writes production (its binding allows it); with the
    branch header the server lets it write only the branch's objects, whatever the request says."""
    with _dev(server, dev_token, branch=None) as off:
        assert _run(off, "project:fraud").status_code == 201
        assert _version(off, "churn-model").status_code == 201
    with _dev(server, dev_token) as on:
        _refused_on_branch(_run(on, "project:fraud"))
        _refused_on_branch(_version(on, "churn-model"))
        _refused_on_branch(
            on.put("/api/v1/models/churn-model/aliases/candidate", json={"version": 1, "at": NOW})
        )
        _refused_on_branch(_version(on, "churn-model:branch:other"))
        _refused_on_branch(_run(on, "project:fraud/branch:other"))
        # the branch's own objects are written; production's are read
        assert _run(on, "project:fraud/branch:feature-x").status_code == 201
        assert _version(on, "churn-model:branch:feature-x").status_code == 201
        assert on.get("/api/v1/models/churn-model").json()["latest_version"] == 1
        assert on.put("/api/v1/branches/fraud/feature-x").status_code == 200
        _refused_on_branch(on.put("/api/v1/branches/fraud/other"))
    with _dev(server, dev_token, branch="Bad/Name") as bad:
        answer = _run(bad, "project:fraud/branch:feature-x")
        assert (
            answer.status_code == 400
            and "x-shipyard-branch: invalid branch name" in answer.json()["error"]["message"]
        )
    with _dev(server, dev_token, branch=None) as off:
        for bad_ns in ("project:fraud/branch:main", "project:fraud/branch:a--b"):
            answer = _run(off, bad_ns)
            assert answer.status_code == 400 and "branch" in answer.json()["error"]["message"]


def test_a_branch_scoped_token_writes_only_its_branch(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as admin:
        admin.post("/api/v1/users", json={"name": "ci", "role": None, "kind": "service"}).raise_for_status()
        admin.post(
            "/api/v1/bindings", json={"principal": "ci", "role": "developer", "scope": "project:fraud"}
        ).raise_for_status()
        made = admin.post(
            "/api/v1/tokens", json={"name": "t", "user": "ci", "scope": "project:fraud/branch:pr-7"}
        )
        made.raise_for_status()
        token = made.json()["token"]
    with _dev(server, token, branch=None) as ci:
        assert _run(ci, "project:fraud/branch:pr-7").status_code == 201
        assert _run(ci, "project:fraud").status_code == 403
        assert _run(ci, "project:fraud/branch:pr-8").status_code == 403


_FLOW = """
from shipyard import flow, step


@step
def one() -> int:
    return 1


@flow
def tiny():
    return one()
"""


@pytest.mark.slow  # two flow runs through the CLI
def test_cli_run_on_a_branch_and_bad_branches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPYARD_PROJECT", "fraud")
    monkeypatch.chdir(tmp_path)
    flow = tmp_path / "tiny.py"
    flow.write_text(_FLOW)

    def cli(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, _ = cli("run", str(flow), "-q", "--json", "--branch", "feature-x")
    assert code == 0
    run_id = json.loads(out)["run_id"]
    code, out, _ = cli("run", str(flow), "-q", "--json")  # production's own line: the user's namespace
    assert code == 0
    code, out, _ = cli("runs", "show", run_id, "--json")
    assert code == 0 and json.loads(out)["namespace"] == "project:fraud/branch:feature-x"
    code, out, _ = cli("runs", "list", "--json", "--namespace", "project:fraud/branch:feature-x")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [run_id]
    code, out, _ = cli("branches", "list", "--json")
    assert code == 0 and [b["name"] for b in json.loads(out)["branches"]] == ["feature-x"]
    for bad, says in (("main", "production itself"), ("Feature/X", "use 'feature-x'")):
        code, _, err = cli("run", str(flow), "-q", "--branch", bad)
        assert code == 1 and err.startswith("error: ") and says in err and err.count("\n") == 1
    monkeypatch.delenv("SHIPYARD_PROJECT")
    code, _, err = cli("run", str(flow), "-q", "--branch", "feature-y")
    assert code == 1 and "needs a project" in err and err.count("\n") == 1


@pytest.mark.slow  # a flow run through a server
def test_cli_run_on_a_branch_through_a_server(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPYARD_URI", server.url)
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
    monkeypatch.setenv("SHIPYARD_PROJECT", "fraud")
    monkeypatch.chdir(tmp_path)
    flow = tmp_path / "tiny.py"
    flow.write_text(_FLOW)
    capsys.readouterr()
    assert main(["run", str(flow), "-q", "--json", "--branch", "pr-9"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as admin:
        run = admin.get(f"/api/v1/runs/{run_id}").json()
        assert run["namespace"] == "project:fraud/branch:pr-9" and run["status"] == "succeeded"
        listed = admin.get("/api/v1/branches", params={"project": "fraud"}).json()["branches"]
        assert "pr-9" in [b["name"] for b in listed]
