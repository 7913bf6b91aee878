"""The SDK, the CLI and a flow run against a real server on loopback with a token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import shipyard
from shipyard.core.errors import UnauthenticatedError
from shipyard.core.settings import load_settings
from shipyard.metadata.security import AuditEvent, open_security_store
from shipyard.tracking import fluent
from shipyard.tracking.stores import open_stores
from tests.server.live import LiveServer, live_server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server with the default limits (the shared fixture's tiny upload limit is for the edge tests)."""
    with live_server(tmp_path) as s:
        yield s


@pytest.fixture
def client_env(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """The environment of a client of ``server``: no local database, no local artifacts."""
    env = {
        "SHIPYARD_URI": server.url,
        "SHIPYARD_TOKEN": server.token,
        "SHIPYARD_HOME": str(tmp_path / "client-home"),
        "SHIPYARD_USER": "alice",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fluent.reset()
    yield {**os.environ, **env}
    fluent.reset()


def _cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=cwd,
    )


def test_sdk_through_the_server(server: LiveServer, client_env: dict[str, str]) -> None:
    with shipyard.start_run(name="e2e", params={"lr": 0.1}) as run:
        for i in range(2500):
            shipyard.log_metric("loss", 1.0 / (i + 1), step=i)
        shipyard.set_tag("team", "fraud")
        shipyard.log_artifact(np.arange(10), name="arr")
    got = shipyard.get_run(run.id)
    assert got.params == {"lr": 0.1} and got.tags["team"] == "fraud"
    assert got.metrics["loss"] == pytest.approx(1 / 2500)
    assert len(shipyard.get_metric_history(run.id, "loss")) == 2500
    assert np.array_equal(shipyard.load_artifact(run.id, "arr"), np.arange(10))
    # the bytes live on the server, nowhere on the client
    assert not (Path(client_env["SHIPYARD_HOME"]) / "shipyard.db").exists()
    assert not (Path(client_env["SHIPYARD_HOME"]) / "artifacts").exists()
    record = server.stores.metadata.find_artifact(run.id, "arr")
    assert server.stores.artifacts.exists(record.digest)
    assert server.stores.metadata.get_run(run.id).user == "alice"  # the admin token may act for alice


def test_a_wrong_token_is_refused_clearly(server: LiveServer, client_env: dict[str, str]) -> None:
    settings = load_settings(token="shp_" + "w" * 43)
    stores = open_stores(settings)
    try:
        with pytest.raises(UnauthenticatedError, match="token"):
            stores.metadata.search_runs()
    finally:
        stores.close()


def test_cli_and_a_flow_through_the_server(
    server: LiveServer, client_env: dict[str, str], tmp_path: Path
) -> None:
    flow = str(REPO / "examples" / "hello_flow.py")
    ran = _cli(client_env, "run", flow, "-p", "n=4", "-q", "-w", "2", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    runs = server.stores.metadata.search_runs().runs
    assert len(runs) == 1 and runs[0].flow_name == "hello" and runs[0].status.value == "succeeded"
    tasks = server.stores.metadata.list_tasks(runs[0].id)
    assert len([t for t in tasks if t.step == "square"]) == 4
    package = (server.stores.metadata.get_run(runs[0].id).flow_spec or {})["code_package"]  # via the server
    assert server.stores.metadata.find_artifact(runs[0].id, "code").digest == package["digest"]
    assert server.stores.artifacts.exists(package["digest"])
    logs = _cli(client_env, "logs", runs[0].id[:12], "total")  # task logs are artifacts on the server
    assert logs.returncode == 0, logs.stderr
    shown = _cli(client_env, "runs", "show", runs[0].id[:12])
    assert shown.returncode == 0 and "hello" in shown.stdout, shown.stderr
    listed = _cli(client_env, "runs", "list", "--json", "-A")
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [runs[0].id]
    created = _cli(client_env, "tokens", "create", "--name", "ci", "--expires-in", "30d")
    assert created.returncode == 0, created.stderr
    value = created.stdout.strip().splitlines()[-1]
    assert value.startswith("shp_")
    listed_tokens = _cli(client_env, "tokens", "list", "--json")
    token_id = next(t["id"] for t in json.loads(listed_tokens.stdout) if t["name"] == "ci")
    assert _cli({**client_env, "SHIPYARD_TOKEN": value}, "runs", "list", "-A").returncode == 0
    assert _cli(client_env, "tokens", "revoke", token_id).returncode == 0
    refused = _cli({**client_env, "SHIPYARD_TOKEN": value}, "runs", "list", "-A")
    assert refused.returncode == 1 and "token" in refused.stderr


def test_models_through_the_server(server: LiveServer, client_env: dict[str, str]) -> None:
    from shipyard.registry.api import load_model, log_model, register_model

    pytest.importorskip("sklearn")
    from sklearn.linear_model import LinearRegression

    X = np.arange(20, dtype=float).reshape(10, 2)
    y = X @ np.array([1.0, 2.0])
    model = LinearRegression().fit(X, y)
    with shipyard.start_run(name="train") as run:
        info = log_model(model, "model", input_example=X[:3], register=True)
    assert info.version is not None and info.version.uri == "models:/model/1"
    v2 = register_model(f"runs:/{run.id}/model", "fraud")
    assert v2.version == 1
    loaded = load_model("models:/fraud/1")
    assert np.allclose(loaded.predict(X), y)
    # the package lives on the server; the server recorded who did it
    assert server.stores.artifacts.exists(v2.package_digest)
    events = [e.action for e in _audit(server)]
    assert "POST /api/v1/models/{name}/versions" in events
    assert "PUT /api/v1/blobs/sha256/{digest}" in events


def _audit(server: LiveServer) -> list[AuditEvent]:
    server.app.state.ctx.audit.flush()

    return list(open_security_store(server.stores.metadata).list_audit(1000))


def test_large_artifacts_stream_both_ways(server: LiveServer, tmp_path: Path) -> None:
    from shipyard.artifacts.backends.http import HttpBackend
    from shipyard.artifacts.store import ArtifactStore

    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(24 * 1024 * 1024 + 123))  # several chunks, past the spool size
    store = ArtifactStore(HttpBackend(server.url, server.token))
    try:
        digest, size = store.put_file(source)
        assert size == source.stat().st_size
        assert server.stores.artifacts.exists(digest)
        copy = store.get_file(digest, tmp_path / "copy.bin")
        assert copy.read_bytes() == source.read_bytes()
        assert store.put_file(source) == (digest, size)  # already there: nothing re-sent
    finally:
        store.close()
