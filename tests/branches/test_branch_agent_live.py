"""A branch's deployment runs side by side with its environment's, on its own address: two
``shipyard agent`` processes (``-e dev --applied`` and ``-e dev --applied --branch feature-x``)
serve production's ``fraud@candidate`` (version 2) and the branch's own (its version 1) at two
addresses; ``shipyard branches delete feature-x`` removes the branch's deployment and leaves
production's serving."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.deploy.agent_env import SPEC, TOKEN, register_models, row

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLI = [sys.executable, "-m", "shipyard.cli.main"]


def _branch_model(env: dict[str, str]) -> None:
    """The branch's own fraud (stored as fraud:branch:feature-x, version 1), candidate -> 1."""
    from sklearn.linear_model import LogisticRegression

    from shipyard.core.settings import load_settings
    from shipyard.registry.service import ModelRegistry
    from shipyard.tracking.client import TrackingClient
    from shipyard.tracking.stores import open_stores
    from tests.serving.conftest import make_data

    settings = load_settings(
        home=Path(env["SHIPYARD_HOME"]),
        uri=env["SHIPYARD_URI"],
        artifacts=env["SHIPYARD_ARTIFACTS"],
        project="fraud",
        branch="feature-x",
    )
    stores = open_stores(settings)
    try:
        registry = ModelRegistry(stores)
        run = TrackingClient(stores).create_run("branch-train")
        x, y = make_data(500, 5)
        record = registry.log_model(
            run.id, LogisticRegression(max_iter=300).fit(x, y), "fraud", input_example=x.head(3)
        )
        assert registry.register_record(record, "fraud").model_name == "fraud:branch:feature-x"
        registry.set_alias("fraud", "candidate", 1)
    finally:
        stores.close()


def _cli(env: dict[str, str], root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*CLI, *args], env=env, cwd=root, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _status(env: dict[str, str], slot: str) -> dict[str, Any]:
    path = Path(env["SHIPYARD_HOME"]) / "agent" / slot / "status.json"
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, ValueError):
        return {}


def _wait(
    check: Callable[[], bool], what: str, procs: list[subprocess.Popen[bytes]], timeout_s: float = 300
) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        dead = [p for p in procs if p.poll() is not None]
        assert not dead, f"an agent exited waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_branch_serves_next_to_the_environment_and_goes_with_its_branch(tmp_path: Path) -> None:
    env = register_models(tmp_path)
    _branch_model(env)
    spec = tmp_path / "shipyard.yaml"
    spec.write_text(SPEC.format(deployments="  api:\n    model: models:/fraud@candidate\n"))
    _cli(env, tmp_path, "apply", "-e", "dev")
    refused = subprocess.run(
        [*CLI, "apply", "-e", "production", "--branch", "feature-x"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (
        refused.returncode == 1 and refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    )
    _cli(env, tmp_path, "apply", "-e", "dev", "--branch", "feature-x")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for extra in ((), ("--branch", "feature-x")):
            log = (tmp_path / f"agent{len(procs)}.out").open("ab")
            procs.append(
                subprocess.Popen(
                    [*CLI, "agent", "-e", "dev", "--applied", "--interval", "3600", *extra],
                    env=env,
                    cwd=tmp_path,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

        def ready(slot: str) -> bool:
            return _status(env, slot).get("deployments", {}).get("api", {}).get("state") == "ready"

        _wait(lambda: ready("dev") and ready("dev--feature-x"), "both deployments", procs)
        prod = _status(env, "dev")["deployments"]["api"]
        branch = _status(env, "dev--feature-x")["deployments"]["api"]
        assert prod["address"] != branch["address"]
        answers = {
            where: httpx.post(dep["address"] + "/predict", json=[row()], headers=AUTH, timeout=60).json()
            for where, dep in (("prod", prod), ("branch", branch))
        }
        assert answers["prod"]["version"] == 2 and answers["branch"]["version"] == 1
        assert branch["version"] == "fraud:branch:feature-x/1" and prod["version"] == "fraud/2"

        deleted = _cli(env, tmp_path, "branches", "delete", "feature-x")
        assert "deployments removed from dev--feature-x" in deleted.stdout
        os.kill(procs[1].pid, signal.SIGHUP)
        _wait(
            lambda: "api" not in _status(env, "dev--feature-x").get("deployments", {}),
            "the branch's api to stop",
            procs,
        )
        again = httpx.post(prod["address"] + "/predict", json=[row()], headers=AUTH, timeout=60)
        assert again.status_code == 200 and again.json()["version"] == 2
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for slot in ("dev", "dev--feature-x"):
            for child in _status(env, slot).get("children", []):
                if psutil.pid_exists(child["pid"]):
                    os.kill(child["pid"], signal.SIGKILL)
