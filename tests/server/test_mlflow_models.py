"""The real MLflow client against a live shipyard server (SQLite, one server for the module):
artifacts through the proxy, sklearn models logged, registered, aliased and loaded back, autolog,
and shipyard's permissions behind MLflow's API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.server.live import LiveServer
from tests.server.mlflow_live import mlflow_server, unique

mlflow = pytest.importorskip("mlflow")
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow-models")) as live:
        yield live


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as client:
        yield client


def _data() -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(40, dtype=float).reshape(20, 2)
    return x, x @ np.array([1.0, 2.0]) + 3.0


def test_artifacts_go_through_the_proxy_into_the_run(
    server: LiveServer, api: httpx.Client, tmp_path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    (tmp_path / "notes.txt").write_text("hello")
    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "sub" / "b.bin").write_bytes(b"\x00\x01")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
        mlflow.log_artifacts(str(folder), artifact_path="bundle")
        mlflow.log_dict({"lr": 0.1}, "config/params.json")
        mlflow.log_figure(fig, "plots/curve.png")
        mlflow.log_table(pd.DataFrame({"a": [1, 2]}), "tables/t.json")
    plt.close(fig)
    client = mlflow.MlflowClient()
    root = {(f.path, f.is_dir) for f in client.list_artifacts(run.info.run_id)}
    assert root == {
        ("notes.txt", False),
        ("bundle", True),
        ("config", True),
        ("plots", True),
        ("tables", True),
    }
    nested = {(f.path, f.file_size) for f in client.list_artifacts(run.info.run_id, "bundle/sub")}
    assert nested == {("bundle/sub/b.bin", 2)}
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="bundle", dst_path=str(tmp_path / "dl")
        )
    )
    assert (local / "a.csv").read_text() == "x\n1\n" and (local / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    assert mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/config/params.json") == {"lr": 0.1}
    assert json.loads(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/tables/t.json"))["data"] == [
        [1],
        [2],
    ]
    # the same files are the run's shipyard artifacts (content-addressed records)
    names = {r.name: r for r in server.stores.metadata.list_artifacts(run.info.run_id)}
    assert {"notes.txt", "bundle/a.csv", "bundle/sub/b.bin", "config/params.json", "plots/curve.png"} <= set(
        names
    )
    assert server.stores.artifacts.get_bytes(names["notes.txt"].digest) == b"hello"


def test_artifact_paths_are_checked(api: httpx.Client) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("one", "same.txt")
    base = f"/api/2.0/mlflow-artifacts/artifacts/0/{run.info.run_id}/artifacts"
    traversal = api.put(f"{base}/../../escape.txt", content=b"x")
    assert traversal.status_code in (400, 404)
    encoded = api.put(f"{base}/%2e%2e/escape.txt", content=b"x")
    assert encoded.status_code == 400 and encoded.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    control = api.put(f"{base}/bad%01name.txt", content=b"x")
    assert control.status_code == 400 and control.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    changed = api.put(f"{base}/same.txt", content=b"two")
    assert changed.status_code == 400 and changed.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert api.put(f"{base}/same.txt", content=b"one").status_code == 200  # the same bytes again
    missing = api.get(f"{base}/nothing.txt")
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    wrong_shape = api.get("/api/2.0/mlflow-artifacts/artifacts/not-a-run-path")
    assert wrong_shape.status_code == 400


def test_sklearn_model_registered_aliased_and_loaded(server: LiveServer) -> None:
    from sklearn.linear_model import LinearRegression

    x, y = _data()
    name = unique("fraud")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            LinearRegression().fit(x, y), name="model", pip_requirements=["scikit-learn"]
        )
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert version.version == "1" and version.source == info.model_uri
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, "candidate", version.version)
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@candidate")
    np.testing.assert_allclose(loaded.predict(x[:3]), y[:3])
    assert client.get_model_version_by_alias(name, "candidate").version == "1"
    # the same model in shipyard's registry: an MLflow package, from that run
    stored = server.app.state.ctx.registry.resolve_alias(name, "candidate")
    assert (stored.flavor, stored.run_id, stored.unsafe) == ("mlflow", run.info.run_id, True)
    # stages are a view over aliases
    client.transition_model_version_stage(name, "1", "Staging")
    assert client.get_model_version(name, "1").current_stage == "Staging"
    assert "staging" in server.app.state.ctx.registry.get_model(name).aliases
    assert [v.version for v in client.get_latest_versions(name, stages=["Staging"])] == ["1"]
    client.transition_model_version_stage(name, "1", "Archived")
    assert client.get_model_version(name, "1").current_stage == "None"
    assert [m.name for m in client.search_registered_models(filter_string=f"name = '{name}'")] == [name]
    assert [v.version for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
    assert client.get_model_version_download_uri(name, "1").startswith("mlflow-artifacts:/")


def test_rename_keeps_versions_aliases_and_lineage_and_model_tags_delete(
    server: LiveServer, api: httpx.Client
) -> None:
    from mlflow.exceptions import MlflowException
    from sklearn.linear_model import LinearRegression

    from shipyard.metadata.model_registry import LineageRecord

    x, y = _data()
    name, new = unique("churn"), unique("churn-renamed")
    client = mlflow.MlflowClient()
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            LinearRegression().fit(x, y), name="model", pip_requirements=["scikit-learn"]
        )
    for _ in range(2):
        mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    client.set_registered_model_alias(name, "candidate", "2")
    client.set_registered_model_tag(name, "team", "risk")
    client.set_registered_model_tag(name, "tier", "gold")
    client.set_model_version_tag(name, "1", "note", "first")
    registry = server.app.state.ctx.registry
    lineage = LineageRecord("a" * 32, "features", "sha256:" + "0" * 64, run.info.run_id, None, "parquet", 1)
    from shipyard.metadata.sql.model_registry_schema import model_version_lineage

    with registry._write() as conn:  # lineage as a shipyard flow would have recorded it
        conn.execute(model_version_lineage.insert().values(model_name=name, version=1, **vars(lineage)))
    client.rename_registered_model(name, new)
    got = client.get_registered_model(new)
    assert got.name == new
    assert got.aliases == {"candidate": "2"} and got.tags == {"team": "risk", "tier": "gold"}
    assert [v.version for v in client.search_model_versions(f"name = '{new}'")] == ["1", "2"]
    assert client.get_model_version(new, "1").tags == {"note": "first"}
    assert client.get_model_version_by_alias(new, "candidate").version == "2"
    loaded = mlflow.pyfunc.load_model(f"models:/{new}@candidate")
    np.testing.assert_allclose(loaded.predict(x[:3]), y[:3])
    assert registry.version_lineage(new, 1) == [lineage]
    assert [e.new_version for e in registry.alias_history(new, "candidate")] == [2]
    with pytest.raises(MlflowException) as gone:
        client.get_registered_model(name)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # the version counter went along: the next registration is version 3
    assert mlflow.register_model(f"runs:/{run.info.run_id}/model", new).version == "3"
    # a taken name (or a look-alike of one) is refused, and nothing moves
    taken = unique("taken")
    client.create_registered_model(taken)
    with pytest.raises(MlflowException) as clash:
        client.rename_registered_model(new, taken.upper())
    assert clash.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert len(client.search_model_versions(f"name = '{new}'")) == 3
    # a case-only rename is a rename
    client.rename_registered_model(taken, taken.upper())
    assert client.get_registered_model(taken.upper()).name == taken.upper()
    # deleting a model tag: gone from the model, the other tag stays; a missing tag is a 404
    client.delete_registered_model_tag(new, "team")
    assert client.get_registered_model(new).tags == {"tier": "gold"}
    with pytest.raises(MlflowException) as missing:
        client.delete_registered_model_tag(new, "team")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # both are mutations in the audit trail, with who renamed what
    audit = api.get("/api/v1/audit", params={"limit": 1000}).json()["events"]
    actions = {(e["action"], e["status"]) for e in audit}
    assert ("POST /api/2.0/mlflow/registered-models/rename", 200) in actions
    assert ("DELETE /api/2.0/mlflow/registered-models/delete-tag", 200) in actions


def test_rename_needs_model_write_on_the_model(server: LiveServer, api: httpx.Client) -> None:
    name = unique("owned")
    assert api.post("/api/2.0/mlflow/registered-models/create", json={"name": name}).status_code == 200
    api.post("/api/v1/users", json={"name": "rita", "role": "viewer"})
    token = api.post("/api/v1/tokens", json={"name": "t", "user": "rita"}).json()["token"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as rita:
        denied = rita.post(
            "/api/2.0/mlflow/registered-models/rename", json={"name": name, "new_name": name + "-x"}
        )
        assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
        untagged = rita.request(
            "DELETE", "/api/2.0/mlflow/registered-models/delete-tag", json={"name": name, "key": "k"}
        )
        assert untagged.status_code == 403
    assert api.get("/api/2.0/mlflow/registered-models/get", params={"name": name}).status_code == 200


def test_autolog_around_a_real_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import Ridge

    # MLflow infers a logged model's requirements in a child Python (over a minute on a busy
    # machine); that is the client's own business, not the server's: name them instead
    monkeypatch.setattr(mlflow.models, "infer_pip_requirements", lambda *a, **k: ["scikit-learn"])

    x, y = _data()
    mlflow.set_experiment(unique("autolog"))
    mlflow.sklearn.autolog(log_input_examples=False, log_model_signatures=False)
    try:
        with mlflow.start_run() as run:
            Ridge(alpha=0.5).fit(x, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    got = mlflow.get_run(run.info.run_id)
    assert got.data.params["alpha"] == "0.5"
    assert "training_r2_score" in got.data.metrics
    assert got.data.tags["estimator_name"] == "Ridge"
    models = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    assert [m.source_run_id for m in models] == [run.info.run_id]


def test_shipyard_permissions_hold_behind_mlflow(server: LiveServer, api: httpx.Client) -> None:
    from mlflow.exceptions import MlflowException

    for user, role in (("vera", "viewer"), ("dev", "developer")):
        assert api.post("/api/v1/users", json={"name": user, "role": role}).status_code == 201
    tokens = {
        u: api.post("/api/v1/tokens", json={"name": "t", "user": u}).json()["token"] for u in ("vera", "dev")
    }
    with mlflow.start_run() as run:  # the admin's run
        mlflow.log_metric("m", 1.0)

    def as_user(user: str) -> httpx.Client:
        return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens[user]}"})

    with as_user("vera") as vera:
        assert vera.get("/api/2.0/mlflow/runs/get", params={"run_id": run.info.run_id}).status_code == 200
        denied = vera.post(
            "/api/2.0/mlflow/runs/log-metric",
            json={"run_id": run.info.run_id, "key": "m", "value": 2, "timestamp": 1, "step": 1},
        )
        assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    with as_user("dev") as dev:  # may write runs, but not another's
        other = dev.post(
            "/api/2.0/mlflow/runs/set-tag", json={"run_id": run.info.run_id, "key": "k", "value": "v"}
        )
        assert other.status_code == 403 and other.json()["error_code"] == "PERMISSION_DENIED"
        own = dev.post("/api/2.0/mlflow/experiments/create", json={"name": "user:dev"})
        assert own.status_code == 200, own.text
        foreign = dev.post("/api/2.0/mlflow/experiments/create", json={"name": "user:admin"})
        assert foreign.status_code == 403
    import os

    os.environ["MLFLOW_TRACKING_TOKEN"] = tokens["vera"]
    try:
        with pytest.raises(MlflowException) as refused:
            mlflow.MlflowClient().create_run("0")
        assert refused.value.error_code == "PERMISSION_DENIED"
    finally:
        os.environ["MLFLOW_TRACKING_TOKEN"] = server.token


@pytest.mark.slow  # MLflow's log_model + pyfunc load: ~10-40 s on the loaded 2-core machine
def test_mlflow_registered_model_served_by_shipyard_serve(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's path end to end: the MLflow client logs, registers and aliases a sklearn model on
    the shipyard server; ``shipyard serve models:/name@alias`` over that server refuses it in one
    line without --allow-unsafe-model and answers /predict with it."""
    import pandas as pd
    import uvicorn
    from fastapi.testclient import TestClient
    from sklearn.linear_model import LinearRegression

    from shipyard.cli.main import main
    from shipyard.registry.package import MANIFEST, files_from_tar, read_manifest

    x, y = _data()
    frame = pd.DataFrame(x, columns=["a", "b"])
    name = unique("served")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            LinearRegression().fit(frame, y),
            name="model",
            pip_requirements=["scikit-learn"],
            signature=mlflow.models.infer_signature(frame, y),
        )
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    mlflow.MlflowClient().set_registered_model_alias(name, "live", version.version)
    # the version's package is a normal shipyard package: model.yaml + the MLflow folder
    stored = server.app.state.ctx.registry.resolve_alias(name, "live")
    files = files_from_tar(server.stores.artifacts.get_bytes(stored.package_digest, name), name)
    manifest = read_manifest(files)
    assert MANIFEST in files and "mlflow_model/MLmodel" in files
    assert (manifest["flavor"], manifest["unsafe"]) == ("mlflow", True)
    assert [c["name"] for c in manifest["signature"]["inputs"]] == ["a", "b"]
    assert stored.signature == manifest["signature"]

    for key, value in {
        "SHIPYARD_URI": server.url,
        "SHIPYARD_TOKEN": server.token,
        "SHIPYARD_HOME": str(tmp_path / "client-home"),
    }.items():
        monkeypatch.setenv(key, value)
    apps: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    uri = f"models:/{name}@live"
    capsys.readouterr()
    assert main(["serve", uri, "--no-auth", "--no-log"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--allow-unsafe-model" in err and len(err.splitlines()) == 1
    assert apps == []

    assert main(["serve", uri, "--no-auth", "--no-log", "--allow-unsafe-model"]) == 0
    assert len(apps) == 1
    with TestClient(apps[0], base_url="http://127.0.0.1") as service:  # type: ignore[arg-type]
        answer = service.post("/predict", json=frame.head(3).to_dict("records"))
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["predictions"], y[:3])
