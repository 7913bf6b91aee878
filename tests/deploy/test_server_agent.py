"""``shipyard server --agent ENV``: the server runs the environment's deployment agent as a child
it supervises (restarted when it exits, stopped with the server), so one command serves the API
and what apply/sync declare."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest

from shipyard.cli.main import main
from shipyard.deploy.apply import apply
from shipyard.metadata import open_metadata_store
from shipyard.server.agents import AgentChildren, AgentTarget
from tests.deploy.delivery_world import open_world, spec_of
from tests.server.live import ADMIN_TOKEN, free_port

SPEC = textwrap.dedent(
    """\
    project: {name: fraud}
    environments:
      staging: {settings: {MODE: MODE_VALUE}}
    """
)


def _until(check: object, what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_an_agent_that_exits_is_started_again_and_stop_ends_it(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    script = (
        "import pathlib, sys, time\n"
        f"p = pathlib.Path({str(starts)!r})\n"
        "n = len(p.read_text()) if p.exists() else 0\n"
        "p.write_text('x' * (n + 1))\n"
        "sys.exit(3) if n < 2 else time.sleep(600)\n"
    )
    lines: list[str] = []
    children = AgentChildren(
        [AgentTarget("staging")],
        dict(os.environ),
        lines.append,
        tick_s=0.02,
        backoff_s=0.05,
        argv=lambda _t: [sys.executable, "-c", script],
    )
    children.start()
    try:
        _until(lambda: starts.exists() and len(starts.read_text()) == 3, "the third start", 60)
        [child] = children.children
        _until(lambda: child.exits == [3, 3], "two exits recorded", 10)
        assert child.failures == 2 and child.proc is not None and child.proc.poll() is None
        [pid] = children.pids()
    finally:
        children.stop(grace_s=10)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert sum("exited (3); starting it again in" in line for line in lines) == 2, lines
    assert AgentTarget("prod", Path("/p/shipyard.yaml"), "fraud").argv("py") == [
        "py", "-m", "shipyard.cli.main", "agent", "-e", "prod", "--applied",
        "-f", "/p/shipyard.yaml", "--project", "fraud",
    ]  # fmt: skip


def test_bad_agent_options_fail_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    assert main(["server", "--agent", "Bad!"]) == 2
    assert "'Bad!' is not an environment or project name" in capsys.readouterr().err
    missing = tmp_path / "nope.yaml"
    assert main(["server", "--agent", "staging", "--agent-file", str(missing)]) != 0
    assert f"no spec at {missing}" in capsys.readouterr().err


@pytest.mark.slow
def test_the_server_runs_the_environments_agent_and_stops_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    uri = f"sqlite:///{home / 'db.sqlite'}"
    spec = tmp_path / "shipyard.yaml"
    spec.write_text(SPEC.replace("MODE_VALUE", "a"))
    metadata = open_metadata_store(uri)
    world = open_world(metadata)
    apply(
        spec_of(SPEC.replace("MODE_VALUE", "a")),
        "staging",
        delivery=world.delivery,
        facts=world.facts(),
        user="a",
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(
        PYTHONPATH=os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])]),
        SHIPYARD_HOME=str(home),
        SHIPYARD_URI=uri,
        SHIPYARD_ARTIFACTS=str(home / "artifacts"),
        SHIPYARD_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    port = free_port()
    cmd = [sys.executable, "-m", "shipyard.cli.main", "server", "--port", str(port), "--agent", "staging"]
    out = tmp_path / "server.out"
    with out.open("wb") as log:
        server = subprocess.Popen(
            [*cmd, "--agent-file", str(spec)], env=env, cwd=tmp_path, stdout=log, stderr=log
        )
    status = home / "agent" / "staging" / "status.json"

    def agent() -> dict[str, object]:
        try:
            return json.loads(status.read_text())["agent"]  # type: ignore[no-any-return]
        except (FileNotFoundError, ValueError, KeyError):
            return {}

    try:
        _until(lambda: agent().get("source") == "release 1 of fraud/staging", "the agent")
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
        pid = agent()["pid"]
        assert psutil.Process(int(pid)).ppid() == server.pid  # type: ignore[call-overload]
        apply(
            spec_of(SPEC.replace("MODE_VALUE", "b")),
            "staging",
            delivery=world.delivery,
            facts=world.facts(),
            user="a",
        )
        _until(lambda: agent().get("source") == "release 2 of fraud/staging", "the new release", 60)
        assert agent()["wakes"] == 1  # woken by the release, not its 10 s interval
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
        metadata.close()
    assert code == 0, out.read_text()
    assert agent()["running"] is False and not psutil.pid_exists(int(pid))  # type: ignore[call-overload]
