"""Crash safety: kill -9 of a task process or of the runner, Ctrl-C, and parallel runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.core.settings import load_settings
from shipyard.runtime.api import RunOptions, resume, run_file
from shipyard.runtime.stores import RunStores, open_run_stores

FLOWS = Path(__file__).resolve().parents[1] / "flows" / "flows_for_tests"
CLI = [sys.executable, "-m", "shipyard.cli.main"]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("SHIPYARD_HEARTBEAT_INTERVAL_S", "0.2")
    monkeypatch.setenv("SHIPYARD_HEARTBEAT_TIMEOUT_S", "1.0")
    return dict(os.environ)


@pytest.fixture
def stores(env: dict[str, str]) -> Iterator[RunStores]:
    s = open_run_stores(load_settings())
    yield s
    s.close()


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def running_slow_tasks(stores: RunStores) -> str | None:
    for run in stores.metadata.search_runs().runs:
        if any(t.step == "slow" for t in stores.metadata.list_tasks(run.id)):
            return run.id
    return None


def test_kill_9_of_a_task_process_fails_only_that_attempt_then_resume(
    stores: RunStores, tmp_path: Path
) -> None:
    marker = tmp_path / "fixed"
    settings = load_settings()
    run = run_file(
        FLOWS / "faults.py", {"n": 3, "marker": str(marker)}, settings, RunOptions(max_workers=2), "crashing"
    )
    assert run.status is RunStatus.FAILED
    tasks = {t.key: t for t in run.tasks}
    assert tasks["crashy[1]"].error == "task process was killed by SIGKILL"
    assert tasks["crashy[0]"].status is TaskStatus.SUCCEEDED
    marker.touch()
    again = resume(run.id, settings, RunOptions(max_workers=2))
    assert again.status is RunStatus.SUCCEEDED, again.error
    assert again.output == 1 + 2 + 3
    assert {t.key: t.status for t in again.tasks}["crashy[0]"] is TaskStatus.REUSED


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_kill_9_of_the_runner_fails_the_run_and_resume_completes(
    env: dict[str, str], stores: RunStores, tmp_path: Path
) -> None:
    marker = tmp_path / "fast-now"
    proc = subprocess.Popen(
        [*CLI, "run", str(FLOWS / "faults.py"), "--flow", "sleeping", "-q", "-p", f"marker={marker}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: running_slow_tasks(stores) is not None)
        run_id = running_slow_tasks(stores)
        assert run_id is not None
        workers = _children(proc.pid)
        assert workers, "the runner should have worker processes"
        proc.kill()
        proc.wait(10)
        psutil.wait_procs(workers, timeout=5)
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers), (
            "orphan workers"
        )
        time.sleep(1.3)  # one heartbeat timeout
        marker.touch()
        out = subprocess.run(
            [*CLI, "resume", run_id, "-q", "--json"], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["status"] == "succeeded"
        origin = stores.metadata.get_run(run_id)
        assert origin.status is RunStatus.FAILED
        new_tasks = {t.key: t.status for t in stores.metadata.list_tasks(result["run_id"])}
        assert new_tasks["prepare"] is TaskStatus.REUSED
        assert new_tasks["total"] is TaskStatus.SUCCEEDED
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_cancels_cleanly(env: dict[str, str], stores: RunStores, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*CLI, "run", str(FLOWS / "faults.py"), "--flow", "sleeping", "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: running_slow_tasks(stores) is not None)
        time.sleep(0.3)
        workers = _children(proc.pid)
        proc.send_signal(sig)
        assert proc.wait(15) == 130
        psutil.wait_procs(workers, timeout=5)
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
        run_id = running_slow_tasks(stores)
        assert run_id is not None
        assert stores.metadata.get_run(run_id).status is RunStatus.CANCELLED
        statuses = {t.status for t in stores.metadata.list_tasks(run_id) if t.step == "slow"}
        assert statuses == {TaskStatus.CANCELLED}
    finally:
        if proc.poll() is None:
            proc.kill()


def test_two_runs_in_parallel_do_not_interfere(env: dict[str, str], stores: RunStores) -> None:
    procs = [
        subprocess.Popen(
            [
                *CLI,
                "run",
                str(FLOWS / "fanout.py"),
                "--flow",
                "hello",
                "-q",
                "--json",
                "-p",
                f"n={n}",
                "-w",
                "1",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (30, 40)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    outputs = [stores.metadata.find_artifact(r["run_id"], "output") for r in results]
    assert outputs[0].digest != outputs[1].digest
    for r, n in zip(results, (30, 40), strict=True):
        tasks = stores.metadata.list_tasks(r["run_id"])
        assert len([t for t in tasks if t.step == "square"]) == n
        assert all(t.status is TaskStatus.SUCCEEDED for t in tasks)
