"""Fixtures: a registry with model ``fraud`` (20 float features), tokens, and live servers.

Versions of ``fraud``: 1 and 2 are LogisticRegressions trained on different data (``champion`` ->
1, ``candidate`` -> 2); 3 always raises (python flavor, unsafe); 4 sleeps 0.2 s per call (python).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.core.settings import Settings, load_settings
from shipyard.tracking.stores import Stores, open_stores

FEATURES = [f"f{i}" for i in range(20)]
TOKEN = "shp_" + "S3rv" * 11


def make_data(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    w = rng.normal(size=len(FEATURES))
    y = (x @ w + rng.normal(scale=0.5, size=rows) > 0).astype("int64")
    return pd.DataFrame(x, columns=FEATURES), y


@dataclass
class Env:
    root: Path
    settings: Settings
    stores: Stores
    token: str
    models: dict[int, Any]  # version -> the fitted estimator (1 and 2)


def _log(stores: Stores, model: Any, example: pd.DataFrame, signature: Any = None) -> int:
    from shipyard.registry.service import ModelRegistry
    from shipyard.tracking.client import TrackingClient

    client = TrackingClient(stores)
    run = client.create_run("serving-tests")
    reg = ModelRegistry(stores)
    record = reg.log_model(run.id, model, "fraud", input_example=example, signature=signature)
    return reg.register_record(record, "fraud").version


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from sklearn.linear_model import LogisticRegression

    from shipyard.metadata.security import open_security_store
    from shipyard.registry.service import ModelRegistry
    from shipyard.server.accounts import ADMIN_USER, add_user, issue_token
    from tests.serving.fakes import Exploding, Slow

    root = tmp_path_factory.mktemp("serving")
    settings = load_settings(
        home=root / "home",
        uri=f"sqlite:///{root / 'home' / 'db.sqlite'}",
        artifacts=str(root / "home" / "artifacts"),
    )
    stores = open_stores(settings)
    fitted = {}
    for seed in (1, 2):
        x, y = make_data(2000, seed)
        model = LogisticRegression(max_iter=500).fit(x, y)
        fitted[_log(stores, model, x.head(5))] = model
    example = make_data(5, 3)[0]
    sig = {
        "input_kind": "dataframe",
        "inputs": [{"name": f, "type": "float64"} for f in FEATURES],
        "outputs": {"kind": "ndarray", "type": "int64", "shape": [-1]},
    }
    assert _log(stores, Exploding(), example, sig) == 3
    assert _log(stores, Slow(0.2), example, sig) == 4
    reg = ModelRegistry(stores)
    reg.approve("fraud", 1)
    reg.set_alias("fraud", "champion", 1)
    reg.set_alias("fraud", "candidate", 2)
    security = open_security_store(stores.metadata)
    add_user(security, ADMIN_USER, "admin", by="test")
    issue_token(security, ADMIN_USER, "tests", value=TOKEN)
    yield Env(root, settings, stores, TOKEN, fitted)
    stores.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread (lifespan on); yields the base URL once ready."""
    import httpx
    import uvicorn

    from shipyard.serving.run import uvicorn_options

    port = free_port()
    options = {**uvicorn_options(), "loop": "asyncio"}  # as `shipyard serve` runs it
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    thread = threading.Thread(target=server.run, name=f"serving-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the serving app did not start")
        try:
            if server.started and httpx.get(url + "/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def auth(env: Env) -> dict[str, str]:
    return {"Authorization": f"Bearer {env.token}"}


def rows(n: int, seed: int) -> list[dict[str, float]]:
    frame, _ = make_data(n, seed)
    return frame.to_dict("records")  # type: ignore[return-value]


def cli_env(env: Env) -> dict[str, str]:
    import os

    out = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    out.update(
        SHIPYARD_HOME=str(env.settings.home),
        SHIPYARD_URI=env.settings.metadata_uri,
        SHIPYARD_ARTIFACTS=str(env.root / "home" / "artifacts"),
    )
    return out


@contextmanager
def serve_cli(env: Env, *args: str) -> Iterator[str]:
    """``shipyard serve ARGS --port P`` in a subprocess; yields the URL once /ready answers."""
    import subprocess
    import sys

    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "shipyard.cli.main", "serve", *args, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"shipyard serve exited: {out}")
            if time.monotonic() > deadline:
                raise RuntimeError("shipyard serve did not become ready")
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
