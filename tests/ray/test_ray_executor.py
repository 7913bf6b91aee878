"""The Ray executor on a real two-node local cluster: work spreads over both nodes, task records
name the node, the CLI and the Python API reach the cluster, and a task past its declared memory
fails with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.cli.main import main
from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.core.errors import FlowError
from shipyard.core.settings import load_settings
from shipyard.runtime.api import RunOptions, run_file
from shipyard.runtime.loader import load_flow
from tests.ray.cluster import LocalRayCluster

pytestmark = pytest.mark.ray

FLOWS = Path(__file__).resolve().parent / "flows"


def node_names(cluster_nodes: list[dict[str, object]]) -> dict[str, str]:
    """Custom resource name (node_a, node_b...) -> the ``ray:<ip>:<id>`` a task record shows."""
    out = {}
    for n in cluster_nodes:
        resources = n["Resources"]
        assert isinstance(resources, dict)
        name = next(k for k in resources if k.startswith("node_") and len(k) == 6)
        out[name] = f"ray:{n['NodeManagerAddress']}:{str(n['NodeID'])[:12]}"
    return out


def alive(ray_cluster: LocalRayCluster) -> list[dict[str, object]]:
    import ray

    if not ray.is_initialized():
        ray.init(address=ray_cluster.address, log_to_driver=False, logging_level="WARNING")
    return [n for n in ray.nodes() if n["Alive"]]


def test_fan_out_runs_on_both_nodes_and_records_them(ray_cluster: LocalRayCluster) -> None:
    settings = load_settings()
    options = RunOptions(executor="ray", executor_options={"address": ray_cluster.address})
    run = run_file(FLOWS / "spread.py", {"n": 4, "seconds": 1.0}, settings, options, "spread")
    assert run.status is RunStatus.SUCCEEDED, run.error
    names = node_names(alive(ray_cluster))
    assert {"node_a", "node_b"} <= set(names)
    tasks = [t for t in run.tasks if t.step == "work"]
    assert len(tasks) == 4 and all(t.status is TaskStatus.SUCCEEDED for t in tasks)
    used = {t.node for t in tasks}
    assert used == {names["node_a"], names["node_b"]}  # two distinct nodes, both recorded
    # the steps themselves saw the same two node ids
    assert [n[:12] for n in run.output] == sorted(n.rsplit(":", 1)[1] for n in used)


def test_python_api_runs_on_ray(ray_cluster: LocalRayCluster) -> None:
    loaded = load_flow(FLOWS / "spread.py", "spread")
    run = loaded.flow.run_with(
        {"n": 2, "seconds": 0.0},
        executor="ray",
        executor_options={"address": ray_cluster.address},
        settings=load_settings(),
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert all(t.node and t.node.startswith("ray:") for t in run.tasks)


def test_cli_run_and_runs_show_node_column(
    ray_cluster: LocalRayCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--flow", "spread", "-p", "n=2", "-p", "seconds=0", "-q", "--ray-address", ray_cluster.address]
    code = main(["run", str(FLOWS / "spread.py"), "--executor", "ray", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_id = out.strip()
    code = main(["runs", "show", run_id])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "NODE" in out.split("tasks", 1)[1] and "ray:" in out
    code = main(["runs", "show", run_id, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert all(str(t["node"]).startswith("ray:") for t in data["tasks"])


def test_task_past_its_declared_memory_fails_with_the_reason(ray_cluster: LocalRayCluster) -> None:
    settings = load_settings()
    options = RunOptions(executor="ray", executor_options={"address": ray_cluster.address})
    run = run_file(FLOWS / "spread.py", {"mb": 1024}, settings, options, "hungry")
    assert run.status is RunStatus.FAILED
    task = next(t for t in run.tasks if t.step == "hog")
    assert task.error is not None
    assert task.error.splitlines()[0] == "out of memory: the task went past its declared memory=64 MiB"
    assert "MemoryError" in task.error and task.node and task.node.startswith("ray:")
    assert run.error is not None and "out of memory" in run.error
    # the limit was lifted after the task: the same workers run a task within its memory
    ok = run_file(FLOWS / "spread.py", {"mb": 16}, settings, options, "hungry")
    assert ok.status is RunStatus.SUCCEEDED, ok.error
    assert ok.output == 16 * 1024 * 1024


def test_step_larger_than_every_node_is_refused_before_the_run(ray_cluster: LocalRayCluster) -> None:
    settings = load_settings()
    options = RunOptions(executor="ray", executor_options={"address": ray_cluster.address})
    with pytest.raises(FlowError) as info:
        run_file(FLOWS / "spread.py", {}, settings, options, "greedy")
    assert str(info.value) == (
        f"step 'greedy_step' asks for more than any node of the Ray cluster at {ray_cluster.address} "
        "has: cpu=8 (largest node has 1)"
    )


@pytest.mark.postgres
def test_shared_stores_postgres_metadata(ray_cluster: LocalRayCluster, tmp_path: Path) -> None:
    """The setup a real cluster needs: Postgres metadata, an explicit shared artifact folder; each
    Ray worker opens its own stores from the shipped settings."""
    import uuid

    import psycopg

    from tests.contract.conftest import postgres_schema_uri
    from tests.services import require_postgres

    base = require_postgres()
    plain = base.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        settings = load_settings(uri=postgres_schema_uri(base, schema), artifacts=str(tmp_path / "shared"))
        options = RunOptions(executor="ray", executor_options={"address": ray_cluster.address})
        run = run_file(FLOWS / "spread.py", {"n": 3, "seconds": 0.0}, settings, options, "spread")
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert all(t.node and t.node.startswith("ray:") for t in run.tasks if t.step == "work")
        assert run.outputs("work") and (tmp_path / "shared").is_dir()
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
