"""``shipyard agent`` end to end, with real registered models and real ``shipyard serve`` processes:
two deployments start behind their routers; a backend killed with SIGKILL is restarted; a rollout
from version 1 to 2 under steady load fails no request, and the rollback to 1 (warm standby) too;
a version whose package does not load leaves the old one serving and reports the failure; a
deployment removed from the spec stops; SIGTERM stops every process the agent started.

The tests share one agent and run in file order (each sets the spec it needs first).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.deploy.agent_env import TOKEN, AgentProcess, Load, register_models, row

pytestmark = pytest.mark.slow

API_V1 = "  api:\n    model: models:/fraud/1\n"
API_V2 = "  api:\n    model: models:/fraud/2\n"
API_V3 = "  api:\n    model: models:/fraud/3\n"
SIDE = "  side:\n    model: models:/fraud@candidate\n    tokens: {required: false}\n"
JOB = (
    "  nightly:\n    kind: batch\n    model: models:/fraud/1\n"
    "    input: datasets:/scoring/1\n    output: out/scores.parquet\n"
)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    root = tmp_path_factory.mktemp("agent-live")
    env = register_models(root)
    spec = root / "shipyard.yaml"
    proc = AgentProcess(root, env, spec)
    proc.apply(API_V1 + SIDE)
    proc.start("--interval", "3600", "--standby", "300", "--drain", "10")
    try:
        yield proc
    finally:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.stop()
        for child in proc.status().get("children", []):
            if psutil.pid_exists(child["pid"]):
                os.kill(child["pid"], 9)


def ready(agent: AgentProcess, name: str, version: str) -> bool:
    dep = agent.deployment(name)
    return dep.get("state") == "ready" and dep.get("version") == version


def predict(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url + "/predict", json=[row()], headers=headers or {}, timeout=30)


def pids(agent: AgentProcess, name: str) -> list[int]:
    return [b["pid"] for b in agent.deployment(name).get("backends", []) if b.get("pid")]


def test_two_deployments_start_behind_their_routers(agent: AgentProcess) -> None:
    agent.wait(lambda: ready(agent, "api", "fraud/1") and ready(agent, "side", "fraud/2"), "both deployments")
    api, side = agent.deployment("api"), agent.deployment("side")
    answer = predict(api["address"], AUTH)
    assert answer.status_code == 200 and answer.json()["version"] == 1
    assert predict(api["address"]).status_code == 401  # the service's own token check, through the router
    assert predict(side["address"]).json()["version"] == 2  # the alias, pinned to the version it named
    ports = (Path(agent.env["SHIPYARD_HOME"]) / "agent" / "dev" / "ports.json").read_text()
    assert str(api["address"].rsplit(":", 1)[1]) in ports and str(side["address"].rsplit(":", 1)[1]) in ports
    for name in ("api", "side"):
        (pid,) = pids(agent, name)
        assert "serve" in psutil.Process(pid).cmdline()
    assert (
        "serving models:/fraud/1"
        in (Path(agent.env["SHIPYARD_HOME"]) / "agent" / "dev" / "api.log").read_text()
    )


def test_a_killed_backend_is_restarted(agent: AgentProcess) -> None:
    agent.wait(lambda: ready(agent, "api", "fraud/1"), "api on version 1")
    (before,) = pids(agent, "api")
    os.kill(before, 9)
    agent.wait(lambda: agent.deployment("api")["backends"][0]["restarts"] >= 1, "the restart")
    agent.wait(lambda: ready(agent, "api", "fraud/1"), "api ready again")
    (after,) = pids(agent, "api")
    assert after != before and not psutil.pid_exists(before)
    backend = agent.deployment("api")["backends"][0]
    assert backend["last_exit"] == f"backend pid {before} exited (killed by SIGKILL)"
    assert predict(agent.deployment("api")["address"], AUTH).json()["version"] == 1


def test_rollout_and_rollback_under_load_fail_no_request(agent: AgentProcess) -> None:
    agent.wait(lambda: ready(agent, "api", "fraud/1"), "api on version 1")
    address = agent.deployment("api")["address"]
    (old,) = pids(agent, "api")
    load = Load(address + "/predict", AUTH, rate=200)
    load.start()
    try:
        time.sleep(2)
        agent.apply(API_V2 + SIDE)
        agent.wait(lambda: ready(agent, "api", "fraud/2"), "the rollout to version 2")
        time.sleep(1)
        rolled = agent.deployment("api")
        assert rolled["rollout"]["state"] == "succeeded" and rolled["standby"]["version"] == "fraud/1"
        assert rolled["standby"]["pids"] == [old]  # warm, without traffic
        asked = time.monotonic()
        agent.apply(API_V1 + SIDE)
        agent.wait(lambda: ready(agent, "api", "fraud/1"), "the rollback to version 1", timeout_s=30)
        time.sleep(1)
    finally:
        load.stop()
    print(f"\n{len(load.results)} requests at {load.rate_achieved:.0f} req/s; failures: {len(load.failures)}")
    assert load.failures == []
    assert load.rate_achieved >= 20  # real load: the rate is what the shared 2 cores allow (printed)
    versions = [v for _, _, v in load.results]
    assert versions[0] == 1 and versions[-1] == 1 and 2 in versions
    back = load.first(1, after=asked)
    assert back is not None and back - asked < 5.0  # the rollback: a switch to the warm version
    assert pids(agent, "api") == [old]


def test_a_version_that_does_not_load_leaves_the_old_serving(agent: AgentProcess) -> None:
    agent.wait(lambda: ready(agent, "api", "fraud/1"), "api on version 1")
    serving = pids(agent, "api")
    agent.apply(API_V3 + SIDE)
    agent.wait(lambda: agent.deployment("api").get("state") == "rollout-failed", "the failed rollout")
    dep = agent.deployment("api")
    assert dep["version"] == "fraud/1" and dep["desired_version"] == "fraud/3"
    assert dep["rollout"]["state"] == "failed" and "exited before it was ready" in dep["rollout"]["error"]
    assert "still serving fraud/1" in dep["error"]
    assert pids(agent, "api") == serving
    assert predict(dep["address"], AUTH).json()["version"] == 1
    assert agent.proc is not None
    for child in psutil.Process(agent.proc.pid).children():  # what the failed rollout started is gone
        with contextlib.suppress(psutil.Error):
            assert "models:/fraud/3" not in child.cmdline()


def test_a_removed_deployment_stops(agent: AgentProcess) -> None:
    agent.wait(lambda: ready(agent, "side", "fraud/2"), "side")
    side = agent.deployment("side")
    (pid,) = pids(agent, "side")
    port = int(side["address"].rsplit(":", 1)[1])
    agent.apply(API_V1)
    agent.wait(lambda: "side" not in agent.status().get("deployments", {}), "side removed", timeout_s=60)
    assert not psutil.pid_exists(pid)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_a_spec_with_an_error_changes_nothing(agent: AgentProcess) -> None:
    agent.wait(lambda: ready(agent, "api", "fraud/1"), "api")
    serving = pids(agent, "api")
    agent.apply("  api:\n    model: fraud-1\n")
    agent.wait(lambda: bool(agent.status()["agent"]["error"]), "the error reported", timeout_s=60)
    error = agent.status()["agent"]["error"]
    assert error.startswith("shipyard.yaml:6:5: deployments.api.model: 'fraud-1' is not a model reference")
    assert pids(agent, "api") == serving and ready(agent, "api", "fraud/1")
    assert predict(agent.deployment("api")["address"], AUTH).json()["version"] == 1


def test_a_batch_job_without_a_schedule_runs_once(agent: AgentProcess) -> None:
    import pyarrow.parquet as pq

    from tests.serving.conftest import FEATURES, make_data

    agent.apply(API_V1 + JOB)
    agent.wait(
        lambda: agent.deployment("nightly").get("last_exit") == "exit 0", "the batch job", timeout_s=300
    )
    assert agent.deployment("nightly")["runs"] == 1 and agent.status()["agent"]["error"] is None
    scored = pq.read_table(agent.root / "out" / "scores.parquet").to_pandas()  # in the project's folder
    assert len(scored) == 300 and scored["model_version"].unique().tolist() == [1]
    assert scored[FEATURES].to_numpy().tolist() == make_data(300, 11)[0].to_numpy().tolist()
    assert set(scored["prediction"].unique()) <= {0, 1}
    agent.apply(API_V1 + JOB)  # the same job again: it has run, it does not run twice
    time.sleep(3)
    assert agent.deployment("nightly")["runs"] == 1
    log = (Path(agent.env["SHIPYARD_HOME"]) / "agent" / "dev" / "batch-nightly.log").read_text()
    assert "scored 300 rows with models:/fraud/1" in log


def test_sigterm_stops_every_process(agent: AgentProcess) -> None:
    agent.wait(lambda: ready(agent, "api", "fraud/1"), "api")
    children = [c["pid"] for c in agent.status()["children"]]
    assert children  # the api backend and its warm standby
    assert agent.stop() == 0
    assert not [p for p in children if psutil.pid_exists(p)]
    assert agent.status()["agent"]["running"] is False
