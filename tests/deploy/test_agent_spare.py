"""The agent's spare process: it becomes exactly the command it is told (same pid, output in the
command's log, the command's exit code), is used only for a command it fits (interpreter,
environment, folder), and a discarded one is gone."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from shipyard.deploy.agent.commands import CLI
from shipyard.deploy.agent.process import Child
from shipyard.deploy.agent.spare import Spare


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _wait(child: Child, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while (code := child.poll()) is None:
        assert time.monotonic() < deadline, "the command did not end"
        time.sleep(0.05)
    return code


def test_a_spare_becomes_the_command_it_is_told(tmp_path: Path) -> None:
    env = _env()
    spare = Spare(sys.executable, env, tmp_path, ["json"], tmp_path / "spare.log")
    try:
        deadline = time.monotonic() + 120
        while not spare.ready:  # its imports done, it says so
            assert time.monotonic() < deadline and spare.alive, "the spare never said ready"
            time.sleep(0.05)
        assert spare.ready_after is not None and spare.ready_after > 0
        argv = [sys.executable, *CLI, "--help"]
        assert spare.fits(argv, env, tmp_path)
        assert not spare.fits(argv, {**env, "MODE": "other"}, tmp_path)  # another environment
        # ... unless the variable is one of the environment's settings (read at run time, not import)
        assert spare.fits(argv, {**env, "MODE": "other"}, tmp_path, runtime={"MODE"})
        assert not spare.fits(argv, {**env, "OMP_NUM_THREADS": "1"}, tmp_path, runtime={"OMP_NUM_THREADS"})
        assert not spare.fits(argv, {**env, "PYTHONHASHSEED": "1"}, tmp_path, runtime={"PYTHONHASHSEED"})
        assert not spare.fits(argv, env, tmp_path / "elsewhere")  # another folder
        assert not spare.fits(["/other/python", *CLI, "--help"], env, tmp_path)  # another interpreter
        assert not spare.fits([sys.executable, "-m", "other.module"], env, tmp_path)  # not shipyard
        log = tmp_path / "svc.log"
        child = Child(argv, env, log, cwd=tmp_path, spare=spare)
        assert child.from_spare and child.pid == spare.pid
        assert _wait(child) == 0
        text = log.read_text()
        assert "agent starts (a spare started" in text and "Usage: shipyard" in text
        assert "Usage" not in (tmp_path / "spare.log").read_text()  # the command's output is in its log
        failing = Spare(sys.executable, env, tmp_path, [], tmp_path / "spare.log")
        child = Child([sys.executable, *CLI, "no-such-command"], env, log, cwd=tmp_path, spare=failing)
        assert _wait(child) == 2  # a usage error, as a fresh `shipyard no-such-command` exits
        # the command runs with the variables sent with it, not those the spare started with
        other = Spare(sys.executable, env, tmp_path, [], tmp_path / "spare.log")
        told = {**env, "SHIPYARD_URI": "bogus://sent-with-the-command", "SHIPYARD_HOME": str(tmp_path / "h")}
        child = Child([sys.executable, *CLI, "models", "list"], told, log, cwd=tmp_path, spare=other)
        assert child.from_spare and _wait(child) == 1
        assert "bogus://sent-with-the-command" in log.read_text()
    finally:
        spare.discard()


def test_a_discarded_spare_is_gone_and_a_dead_one_is_not_taken(tmp_path: Path) -> None:
    env = _env()
    spare = Spare(sys.executable, env, tmp_path, [], tmp_path / "spare.log")
    spare.discard()
    assert not spare.alive
    argv = [sys.executable, *CLI, "--help"]
    assert not spare.fits(argv, env, tmp_path)
    assert spare.take(argv, tmp_path / "svc.log") is None  # told nothing: a fresh process starts
    child = Child(argv, env, tmp_path / "svc.log", cwd=tmp_path, spare=spare)
    assert not child.from_spare and child.pid != spare.pid
    assert _wait(child) == 0


def test_the_agent_starts_a_service_from_its_spare_only_when_it_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.core.settings import load_settings
    from shipyard.deploy.agent import Agent, AgentOptions, SpecFileState
    from shipyard.deploy.agent.commands import ServicePlan

    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    spec = tmp_path / "shipyard.yaml"
    spec.write_text(
        "project: {name: fraud}\nenvironments:\n  staging: {settings: {MODE: a}}\n"
        "deployments:\n  api: {model: 'models:/fraud/1'}\n"
    )
    settings = load_settings(home=tmp_path / "home", uri="sqlite://", artifacts=str(tmp_path / "art"))
    state = SpecFileState(spec)
    agent = Agent(AgentOptions(environment="staging", spare=True), state, settings)
    agent.desired = state.desired("staging")
    env = agent._service_env()  # what the spare loop starts a spare with
    assert env["MODE"] == "a"
    # the key its routers sign arms with goes to its services only, never to jobs and flows
    assert len(env["SHIPYARD_ROUTER_KEY"]) == 64 and "SHIPYARD_ROUTER_KEY" not in agent._child_env()
    plan = ServicePlan("api", "models:/fraud/1", "fraud/1", 1, "f", args=("--help",))
    spare = agent.spares.spare = Spare(sys.executable, env, agent.desired.root, [], tmp_path / "spare.log")
    child = agent._launch_service(plan, 8123)
    assert child.from_spare and child.pid == spare.pid and agent.spares.spare is None
    assert _wait(child) == 0 and "shipyard serve" in (agent.dir / "api.log").read_text()
    # started before the environment's settings changed: used (the command gets the new values)
    agent.spares.spare = Spare(
        sys.executable, {**env, "MODE": "old"}, agent.desired.root, [], tmp_path / "s.log"
    )
    child = agent._launch_service(plan, 8123)
    assert child.from_spare and _wait(child) == 0
    # started with another variable that is not a setting (an interpreter's): stopped, not used
    stale = agent.spares.spare = Spare(
        sys.executable, {**env, "PYTHONOPTIMIZE": "1"}, agent.desired.root, [], tmp_path / "s.log"
    )
    child = agent._launch_service(plan, 8123)
    assert not child.from_spare and agent.spares.spare is None and not stale.alive
    assert _wait(child) == 0
