"""Code packages on the two-node Ray cluster: the run starts from another working folder and its
project folder is moved away before any task starts, so every task, on both nodes, imports the
flow and its local modules from the run's code package; the outputs equal a local run's."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.core.entities import RunStatus
from shipyard.core.settings import load_settings
from shipyard.runtime import api
from shipyard.runtime.api import RunOptions, run_file
from tests.ray.cluster import LocalRayCluster
from tests.ray.test_ray_executor import alive
from tests.runtime.code_project import expected_values, moving_away, write_project

pytestmark = pytest.mark.ray


def test_tasks_on_both_nodes_run_from_the_code_package(
    ray_cluster: LocalRayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = write_project(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings()
    here = run_file(flow, {"n": 4}, settings, RunOptions(max_workers=2), "packaged")
    assert here.status is RunStatus.SUCCEEDED, here.error

    monkeypatch.setattr(api, "store_code_package", moving_away(flow.parent, tmp_path / "moved"))
    options = RunOptions(executor="ray", executor_options={"address": ray_cluster.address})
    run = run_file(flow, {"n": 4, "seconds": 1.0}, settings, options, "packaged")
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert not flow.parent.exists()
    assert run.output["values"] == here.output["values"] == expected_values(4)
    code = settings.home.resolve() / "code" / run.info.flow_spec["code_package"]["digest"]
    assert run.output["flow_files"] == [str(code / "flow.py")]
    assert run.output["helper_files"] == [str(code / "lazy_helper.py")]
    node_ids = {str(n["NodeID"]) for n in alive(ray_cluster)}
    assert set(run.output["nodes"]) == node_ids and len(node_ids) == 2  # both nodes ran from it
