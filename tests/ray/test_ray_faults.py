"""Ray executor faults: Ray missing, a cluster that cannot be reached, stores that cannot be shared
with a remote cluster, a worker node killed mid-run, and Ray's failures as one-line reasons."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from shipyard.cli.main import main
from shipyard.core.entities import RunStatus
from shipyard.core.errors import ConfigurationError, FlowError
from shipyard.core.settings import load_settings
from shipyard.executors.registry import open_executor
from shipyard.runtime.api import RunOptions, resume, run_file
from shipyard.runtime.stores import open_run_stores
from tests.ray.cluster import LocalRayCluster, free_port
from tests.ray.conftest import ray_installed
from tests.services import require

FLOWS = Path(__file__).resolve().parent / "flows"
CLI = [sys.executable, "-m", "shipyard.cli.main"]
REMOTE = "203.0.113.7:6379"  # TEST-NET-3: never this machine


def test_without_ray_the_executor_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigurationError) as info:
        open_executor("ray")
    assert str(info.value) == "the ray executor needs Ray: pip install 'shipyard[ray]'"
    code = main(["run", str(FLOWS / "spread.py"), "--flow", "spread", "--executor", "ray", "-q"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.strip().splitlines() == ["error: the ray executor needs Ray: pip install 'shipyard[ray]'"]


def test_importing_shipyard_does_not_import_ray() -> None:
    code = (
        "import sys, shipyard, shipyard.executors.registry, shipyard.runtime.api, shipyard.cli.main; "
        "sys.exit('ray' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60, check=False).returncode == 0


def test_unknown_executor_lists_ray() -> None:
    with pytest.raises(ConfigurationError, match="known: local, ray"):
        open_executor("dask")


def _ray_options(address: str) -> RunOptions:
    return RunOptions(executor="ray", executor_options={"address": address})


@pytest.mark.ray
def test_unreachable_cluster_fails_fast_naming_the_address() -> None:
    require(ray_installed(), "Ray is not installed (pip install 'shipyard[ray]')")
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(FlowError) as info:
        run_file(FLOWS / "spread.py", {"n": 1}, load_settings(), _ray_options(address), "spread")
    assert time.monotonic() - started < 15
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot reach the Ray cluster at {address}: connection refused")
    assert "ray start --head" in message


@pytest.mark.ray
def test_remote_cluster_with_local_stores_is_refused_before_connecting() -> None:
    require(ray_installed(), "Ray is not installed (pip install 'shipyard[ray]')")
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as info:
        run_file(FLOWS / "spread.py", {"n": 1}, load_settings(), _ray_options(REMOTE), "spread")
    assert time.monotonic() - started < 5  # no connection attempt
    message = str(info.value)
    assert "\n" not in message and REMOTE in message
    assert "SHIPYARD_URI=postgresql://" in message and "SHIPYARD_ARTIFACTS=s3://" in message
    # shared stores pass that check (then the unreachable address is what fails)
    shared = load_settings(uri="postgresql+psycopg://db/shipyard", artifacts="s3://bucket/runs")
    executor = open_executor("ray", address=REMOTE, connect_timeout_s=1.0)
    with pytest.raises(FlowError, match=r"cannot reach the Ray cluster at 203\.0\.113\.7:6379"):
        executor.init(lambda *a, **k: {}, shared)


@pytest.mark.ray
def test_worker_node_killed_mid_run_its_task_is_retried_on_a_live_node(
    ray_cluster: LocalRayCluster, tmp_path: Path
) -> None:
    """A third node joins; while a task runs there, the node is SIGKILLed (raylet, workers and
    all). The task's attempt fails, the step's retry runs it on a surviving node, the run succeeds."""
    import ray

    victim = ray_cluster.add_node()
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.address}
    params = ["-p", "n=3", "-p", "seconds=3", "-p", f"marks={marks}"]
    proc = subprocess.Popen(
        [*CLI, "run", str(FLOWS / "spread.py"), "--flow", "spread", "--executor", "ray", "-q", *params],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        if not ray.is_initialized():
            ray.init(address=ray_cluster.address, log_to_driver=False, logging_level="WARNING")
        victim_id = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and victim.name in n["Resources"])
        deadline = time.monotonic() + 90
        while not any(victim_id in p.name for p in marks.iterdir()):
            assert time.monotonic() < deadline, f"no task started on {victim.name}: {os.listdir(marks)}"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        victim.kill()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    run_id = out.strip()
    assert "\n" not in run_id, out  # Ray's node-died messages go to stderr, stdout stays the run id
    stores = open_run_stores(load_settings())
    try:
        tasks = [t for t in stores.metadata.list_tasks(run_id) if t.step == "work"]
        assert stores.metadata.get_run(run_id).status is RunStatus.SUCCEEDED
    finally:
        stores.close()
    started_on_victim = {int(p.name.split("-")[0]) for p in marks.iterdir() if victim_id in p.name}
    for task in tasks:
        assert task.node is not None and victim_id[:12] not in task.node
        if task.index in started_on_victim:
            assert task.attempts >= 2, task  # its first attempt died with the node
        else:
            assert task.attempts == 1, task


@pytest.mark.ray
def test_ray_failures_read_as_one_line_reasons() -> None:
    require(ray_installed(), "Ray is not installed (pip install 'shipyard[ray]')")
    from ray import exceptions
    from shipyard.executors.ray_errors import describe_failure

    oom = exceptions.OutOfMemoryError("Task was killed due to the node running low on memory.\nMore...")
    assert describe_failure(oom) == (
        "killed: out of memory (Ray's memory monitor stopped the task: "
        "Task was killed due to the node running low on memory.)"
    )
    died = exceptions.NodeDiedError("The node with node id abc has died.\ndetails")
    assert (
        describe_failure(died) == "task process died with its Ray node: The node with node id abc has died."
    )
    crashed = describe_failure(exceptions.WorkerCrashedError(), memory_mb=512)
    assert crashed.startswith("task process died: the Ray worker crashed") and "512 MiB" in crashed


@pytest.mark.ray
def test_timeout_cancels_and_kills_the_ray_worker(ray_cluster: LocalRayCluster, tmp_path: Path) -> None:
    options = _ray_options(ray_cluster.address)
    run = run_file(FLOWS / "spread.py", {"marks": str(tmp_path)}, load_settings(), options, "stuck_flow")
    assert run.status is RunStatus.FAILED
    task = next(t for t in run.tasks if t.step == "stuck")
    assert task.error == "timed out after 5s"
    (pid_file,) = tmp_path.iterdir()
    pid = int(pid_file.name)
    deadline = time.monotonic() + 15
    while _running(pid):
        assert time.monotonic() < deadline, f"Ray worker {pid} still runs the cancelled task"
        time.sleep(0.1)


def _running(pid: int) -> bool:
    """Alive and not a zombie; a process that exits between the two checks is not running."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.ray
def test_task_process_killed_fails_cleanly_then_resume_completes(
    ray_cluster: LocalRayCluster, tmp_path: Path
) -> None:
    faults = Path(__file__).resolve().parents[1] / "flows" / "flows_for_tests" / "faults.py"
    marker = tmp_path / "fixed"
    options = _ray_options(ray_cluster.address)
    settings = load_settings()
    run = run_file(faults, {"n": 3, "marker": str(marker)}, settings, options, "crashing")
    assert run.status is RunStatus.FAILED
    crashed = next(t for t in run.tasks if t.key == "crashy[1]")
    assert crashed.error is not None and crashed.error.startswith("task process died"), crashed.error
    assert run.error is not None and "crashy[1]" in run.error
    marker.touch()
    resumed = resume(run.id, settings, options)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.output == 1 + 2 + 3
    statuses = {t.key: t.status.value for t in resumed.tasks}
    assert statuses["prepare"] == "reused" and statuses["crashy[1]"] == "succeeded"
