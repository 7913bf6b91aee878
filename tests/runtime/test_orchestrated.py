"""Orchestrated runs (runtime/orchestrated.py): the commands an exported Argo or Airflow workflow
calls — start, expand per step, run per chunk, finish — driven here in the graph's order by a
small harness, give the same run as `shipyard run`: outputs, task keys and statuses, lineage."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.entities import ORCHESTRATOR_TAG, RunStatus, TaskStatus
from shipyard.core.errors import FlowError
from shipyard.core.settings import Settings, load_settings
from shipyard.flows.graph import Graph
from shipyard.runtime import orchestrated as orch
from shipyard.runtime.api import FlowRun, RunOptions, run_file
from shipyard.runtime.stores import RunStores, open_run_stores

FLOWS = Path(__file__).resolve().parents[1] / "flows" / "flows_for_tests"


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def stores(settings: Settings) -> Iterator[RunStores]:
    s = open_run_stores(settings)
    yield s
    s.close()


def drive(
    stores: RunStores,
    file: Path,
    flow: str,
    key: str,
    params: dict[str, Any] | None = None,
    chunk: int = 1,
    retries: int = 0,
) -> str:
    """What an orchestrator does, in order; a failed chunk is retried ``retries`` times."""
    run_id = orch.start(stores, file, params or {}, key, "test", flow)
    graph = Graph.from_dict(stores.metadata.get_run(run_id).flow_spec["graph"])
    try:
        for node in orch.exported_steps(graph):
            counts = orch.expand(stores, run_id, node, chunk)
            for i in range(counts["chunks"]):
                for _ in range(retries + 1):
                    if not orch.run(stores, run_id, node, i, chunk):
                        break
                else:
                    raise RuntimeError(f"{node}[{i}] failed")
    except (RuntimeError, FlowError):
        pass  # the workflow stops; its exit handler still finishes the run
    orch.finish(stores, run_id)
    return run_id


def local(settings: Settings, file: Path, flow: str, **params: Any) -> FlowRun:
    return run_file(file, params, settings, RunOptions(max_workers=2), flow)


def summary(stores: RunStores, run_id: str) -> dict[str, str]:
    return {t.key: t.status.value for t in stores.metadata.list_tasks(run_id)}


SHAPES = [
    ("linear.py", "linear", {"n": 4}),
    ("branch.py", "branching", {"n": 3}),
    ("branch.py", "branching", {"n": 3, "loud": True}),
    ("branch.py", "branching_map", {"n": 4}),
    ("fanout.py", "hello", {"n": 5}),
    ("fanout.py", "hello", {"n": 0}),  # an empty fan-out
    ("fanout.py", "nested", {"n": 3}),
    ("fanout.py", "const_map", {}),
    ("shapes.py", "nested_join", {"n": 4}),
    ("shapes.py", "gated_items", {"n": 5}),
    ("shapes.py", "gated_nested", {"n": 4}),
    ("shapes.py", "halving", {}),
    ("shapes.py", "deep_nested", {"n": 3}),
]


@pytest.mark.parametrize(("file", "flow", "params"), SHAPES, ids=[f"{f}-{p}" for _, f, p in SHAPES])
def test_an_orchestrated_run_equals_the_local_run(
    stores: RunStores, settings: Settings, file: str, flow: str, params: dict[str, Any]
) -> None:
    path = FLOWS / file
    expected = local(settings, path, flow, **params)
    assert expected.status is RunStatus.SUCCEEDED, expected.error
    run_id = drive(stores, path, flow, f"wf-{flow}-{params}", params, chunk=2)
    got = FlowRun(stores, run_id)
    assert got.status is RunStatus.SUCCEEDED, got.error
    assert got.output == expected.output
    local_tasks = summary(stores, expected.id)
    orch_tasks = summary(stores, run_id)
    # the same tasks; a cached step may be CACHED in the second run where it SUCCEEDED in the first
    assert orch_tasks.keys() == local_tasks.keys()
    for key, status in local_tasks.items():
        assert orch_tasks[key] in {status, "cached"}, key
    assert got.info.tags[ORCHESTRATOR_TAG] == "test"
    by_key = {t.key: t for t in stores.metadata.list_tasks(expected.id)}
    for task in stores.metadata.list_tasks(run_id):  # each task's inputs: as many, named alike
        ours = sorted(e.input_name for e in stores.metadata.task_inputs(task.id))
        assert ours == sorted(e.input_name for e in stores.metadata.task_inputs(by_key[task.key].id)), (
            task.key
        )


def test_lineage_of_an_orchestrated_join_names_its_inner_items(stores: RunStores) -> None:
    run_id = drive(stores, FLOWS / "shapes.py", "nested_join", "wf-lineage", {"n": 3, "by": 1})
    tasks = {t.key: t for t in stores.metadata.list_tasks(run_id)}
    outputs = {a.task_id: a.id for a in stores.metadata.list_artifacts(run_id) if a.task_id}
    edges = stores.metadata.task_inputs(tasks["subtotal[2]"].id)
    assert sorted(e.artifact_id for e in edges) == sorted(outputs[tasks[f"inc[2][{j}]"].id] for j in range(2))


def test_every_command_is_idempotent(stores: RunStores) -> None:
    path = FLOWS / "fanout.py"
    first = orch.start(stores, path, {"n": 3}, "wf-idem", "test", "hello")
    assert orch.start(stores, path, {"n": 3}, "wf-idem", "test", "hello") == first
    graph = Graph.from_dict(stores.metadata.get_run(first).flow_spec["graph"])
    for node in orch.exported_steps(graph):
        counts = orch.expand(stores, first, node)
        assert orch.expand(stores, first, node) == counts  # a retried expand writes nothing new
        for i in range(counts["chunks"]):
            assert orch.run(stores, first, node, i) == []
            assert orch.run(stores, first, node, i) == []  # a retried chunk skips what succeeded
    assert orch.finish(stores, first) is RunStatus.SUCCEEDED
    assert orch.finish(stores, first) is RunStatus.SUCCEEDED
    keys = [t.key for t in stores.metadata.list_tasks(first)]
    assert len(keys) == len(set(keys))
    assert all(t.attempts == 1 for t in stores.metadata.list_tasks(first))


def test_a_failed_task_fails_the_run_and_a_retry_runs_its_next_attempt(
    stores: RunStores, tmp_path: Path
) -> None:
    marker = tmp_path / "fixed"
    params = {"n": 4, "marker": str(marker)}
    run_id = drive(stores, FLOWS / "shapes.py", "nested_join", "wf-fail", params)
    failed = FlowRun(stores, run_id)
    assert failed.status is RunStatus.FAILED
    assert "inc[3][1]" in (failed.error or "") and "not fixed yet" in (failed.error or "")
    # a workflow whose retry comes after the fix: the same task's second attempt succeeds
    run_id = orch.start(stores, FLOWS / "shapes.py", params, "wf-retry", "test", "nested_join")
    graph = Graph.from_dict(stores.metadata.get_run(run_id).flow_spec["graph"])
    for node in orch.exported_steps(graph):
        for i in range(orch.expand(stores, run_id, node)["chunks"]):
            if orch.run(stores, run_id, node, i):
                marker.write_text("ok")
                assert orch.run(stores, run_id, node, i) == []
    assert orch.finish(stores, run_id) is RunStatus.SUCCEEDED
    task = next(t for t in stores.metadata.list_tasks(run_id) if t.key == "inc[3][1]")
    assert task.attempts == 2 and task.status is TaskStatus.SUCCEEDED


def test_a_loop_is_driven_by_one_command(stores: RunStores, settings: Settings) -> None:
    expected = local(settings, FLOWS / "shapes.py", "halving")
    run_id = drive(stores, FLOWS / "shapes.py", "halving", "wf-loop")
    graph = Graph.from_dict(stores.metadata.get_run(run_id).flow_spec["graph"])
    body = next(n for n in graph.nodes.values() if n.loop is not None)
    assert body.name in orch.exported_steps(graph) and body.loop is not None
    assert body.loop.until not in orch.exported_steps(graph)
    assert FlowRun(stores, run_id).output == expected.output
    keys = [k for k in summary(stores, run_id) if k.startswith(body.name + "@")]
    assert keys == [k for k in summary(stores, expected.id) if k.startswith(body.name + "@")]


def test_a_step_expanded_before_its_inputs_finished_is_refused(stores: RunStores) -> None:
    run_id = orch.start(stores, FLOWS / "linear.py", {"n": 2}, "wf-early", "test", "linear")
    graph = Graph.from_dict(stores.metadata.get_run(run_id).flow_spec["graph"])
    last = orch.exported_steps(graph)[-1]
    with pytest.raises(FlowError, match="not ready"):
        orch.expand(stores, run_id, last)
    with pytest.raises(FlowError, match="no step 'nope'"):
        orch.expand(stores, run_id, "nope")
    with pytest.raises(FlowError, match="was not expanded"):
        orch.run(stores, run_id, last, 0)


def test_a_stopped_workflow_fails_its_run_naming_the_step_that_never_ran(stores: RunStores) -> None:
    run_id = orch.start(stores, FLOWS / "linear.py", {"n": 2}, "wf-stopped", "test", "linear")
    graph = Graph.from_dict(stores.metadata.get_run(run_id).flow_spec["graph"])
    first = orch.exported_steps(graph)[0]
    orch.expand(stores, run_id, first)
    assert orch.finish(stores, run_id) is RunStatus.FAILED
    assert "did not run" in (stores.metadata.get_run(run_id).error or "")


def test_an_orchestrated_run_is_not_failed_for_a_missing_heartbeat(stores: RunStores) -> None:
    run_id = orch.start(stores, FLOWS / "linear.py", {"n": 2}, "wf-quiet", "test", "linear")
    assert run_id not in stores.metadata.fail_stale_runs(1e-6)
    assert stores.metadata.get_run(run_id).status is RunStatus.RUNNING


def test_a_workflow_exported_from_another_graph_is_refused(stores: RunStores) -> None:
    with pytest.raises(FlowError, match="export the workflow again"):
        orch.start(stores, FLOWS / "linear.py", {}, "wf-graph", "test", "linear", expect_graph="0" * 64)


def test_the_commands_run_as_processes(tmp_path: Path) -> None:
    """The command line a workflow's container runs (the settings come from the environment)."""
    env = {
        "SHIPYARD_HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(orch.__file__).parents[2]),
    }
    base = [sys.executable, "-m", "shipyard.runtime.orchestrated"]

    def call(*args: str) -> str:
        done = subprocess.run(
            [*base, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    flow_file = str(FLOWS / "fanout.py")
    run_id = call(
        "start", "--run-key", "proc", "--orchestrator", "argo", "--flow-name", "hello", "-p", "n=3", flow_file
    )
    out = tmp_path / "chunks"
    for node in ("numbers", "square", "total"):
        counts = call("expand", "--run-key", "proc", "--chunk", "2", "--out", str(out), node)
        assert out.read_text() == str(json.loads(counts)["chunks"])
        for i in range(int(out.read_text())):
            call("run", "--run-key", "proc", "--chunk", "2", node, str(i))
    assert call("finish", "--run-key", "proc") == "succeeded"
    assert len(run_id) == 32
    bad = subprocess.run(
        [*base, "expand", "--run-key", "proc", "nope"], env=env, capture_output=True, text=True, check=False
    )
    assert (
        bad.returncode == 1 and bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
    )
