"""The local executor's resource accountant, GPU assignment and the task entry point by ids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.core.errors import FlowError
from shipyard.core.settings import load_settings
from shipyard.executors.base import TaskRequest
from shipyard.executors.local import LocalExecutor
from shipyard.executors.resources import ResourceAccountant
from shipyard.flows import Resources
from shipyard.runtime.api import RunOptions, run_file
from tests.executors.conftest import FLOWS


def test_accountant_never_oversubscribes() -> None:
    acc = ResourceAccountant(cpu=4, memory_mb=1000, gpus=["0", "1"])
    big = Resources(cpu=3, memory_mb=600, gpu=1)
    assert acc.fits_now(big)
    assert acc.acquire("a", big) == ["0"]
    assert not acc.fits_now(big)  # cpu and memory are taken
    assert acc.fits_now(Resources(cpu=1, memory_mb=400, gpu=1))
    assert acc.acquire("b", Resources(gpu=1)) == ["1"]
    assert not acc.fits_now(Resources(gpu=1))
    acc.release("a")
    assert acc.fits_now(big)
    assert acc.acquire("c", big) == ["0"]


def test_a_task_asking_more_than_the_machine_has_is_refused_before_running() -> None:
    acc = ResourceAccountant(cpu=2, memory_mb=1000, gpus=[])
    with pytest.raises(
        FlowError, match=r"step 'train' asks for more than this machine has: cpu=64 \(machine has 2\), gpu=1"
    ):
        acc.check_fits(Resources(cpu=64, gpu=1), "step 'train'")


def _echo_env(run_id: str, task_id: str, settings: Any, attempt: int = 1) -> dict[str, Any]:
    return {"ok": True, "error": None, "output": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid()}


def test_gpu_tasks_get_their_own_devices_and_a_fresh_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    ex = LocalExecutor(max_workers=4)
    ex.init(_echo_env, load_settings())
    try:
        reqs = [TaskRequest("r", f"t{i}", f"k{i}", 1, resources=Resources(gpu=1)) for i in range(3)]
        assert ex.can_submit(reqs[0])
        ex.submit(reqs[0])
        ex.submit(reqs[1])
        assert not ex.can_submit(reqs[2])  # both GPUs are held
        results = []
        while len(results) < 2:
            results += ex.wait(5)
        assert sorted(r.payload["output"] for r in results) == ["4", "5"]
        assert ex.can_submit(reqs[2])
    finally:
        ex.finalize()


def test_task_entry_runs_a_task_by_ids_in_a_fresh_process(tmp_path: Path) -> None:
    settings = load_settings()
    marker = tmp_path / "fixed"
    run = run_file(
        FLOWS / "faults.py", {"n": 4, "marker": str(marker)}, settings, RunOptions(max_workers=2), "failing"
    )
    assert run.status is RunStatus.FAILED
    failed = next(t for t in run.tasks if t.key == "fragile[2]")
    marker.touch()
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard.runtime.task_entry", run.id, failed.id],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    again = next(t for t in run.tasks if t.key == "fragile[2]")
    assert again.status is TaskStatus.SUCCEEDED and again.attempts == 2
    assert run.outputs("fragile")[2] == 20


@pytest.mark.parametrize(("method", "inherits"), [("fork", True), ("spawn", False)])
def test_workers_start_with_the_chosen_method(method: str, inherits: bool) -> None:
    options = RunOptions(max_workers=2, executor_options={"start_method": method})
    run = run_file(FLOWS / "start_method.py", {"n": 3}, load_settings(), options)
    assert run.status is RunStatus.SUCCEEDED, run.outcome
    assert run.output == [inherits] * 3


def test_an_unknown_start_method_is_refused_with_the_choices() -> None:
    from shipyard.core.errors import InvalidInputError

    with pytest.raises(
        InvalidInputError, match=r"start method 'thread' is not available here; use one of .*spawn"
    ):
        LocalExecutor(start_method="thread")


def test_fork_is_the_default_only_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.executors.local import default_start_method

    assert default_start_method() == "fork"  # CI runs on Linux
    monkeypatch.setattr(sys, "platform", "darwin")
    assert default_start_method() == "spawn"
    assert LocalExecutor().start_method == "spawn"


def test_cli_start_method_flag(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "shipyard.cli.main", "run", str(FLOWS / "start_method.py"), "-q", "--json"]
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path)}
    ok = subprocess.run(
        [*cmd, "--start-method", "spawn"], capture_output=True, text=True, env=env, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    assert '"status": "succeeded"' in ok.stdout
    bad = subprocess.run(
        [*cmd, "--start-method", "spawn", "--executor", "ray"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "--start-method is for the local executor" in bad.stderr
