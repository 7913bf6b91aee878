"""Exported DAGs in real Airflow (``apache-airflow`` from PyPI, in the environment of
tests/exporters/airflow_venv.py): each file imports into a DagBag with no import error in under
0.5 s, and ``airflow dags test`` runs it end to end with the local operator, giving a shipyard run
whose output, tasks and lineage equal those of ``shipyard run`` — for a linear flow, static
branches with a condition, an empty fan-out, a nested fan-out with a join per outer item, a
fan-out chunked past Airflow's ``max_map_length``, a step retried by Airflow and a failing step;
and Airflow 2.10 parses and runs the same file (its fallback imports) for static branches.

The DAG runs run concurrently (``SHIPYARD_TEST_AIRFLOW_PARALLEL``, default 4), each with its own
Airflow home (a copy of one migrated SQLite database) and shipyard home."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.core.entities import ORCHESTRATOR_TAG, RunStatus, TaskStatus
from shipyard.core.settings import Settings, load_settings
from shipyard.exporters.airflow import AirflowOptions, export
from shipyard.runtime.api import FlowRun, RunOptions, run_file
from shipyard.runtime.orchestrated import run_id_for
from shipyard.runtime.stores import RunStores, open_run_stores
from tests.exporters.airflow_venv import PROBE, AirflowUnavailable, airflow_env, ensure_airflow
from tests.services import require

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

FLOWS = Path(__file__).resolve().parents[1] / "flows" / "flows_for_tests"
OPTIONS_FLOW = Path(__file__).with_name("options_flow.py")
SRC = str(Path(shipyard.__file__).resolve().parents[1])  # the shipyard the tasks' commands run
DAG_TEST_TIMEOUT_S = 1500


@dataclass
class Case:
    file: Path
    flow: str
    params: dict[str, Any] = field(default_factory=dict)
    max_map_length: int = 1024


CASES = {
    "linear": Case(FLOWS / "linear.py", "linear", {"n": 3}),
    "branching": Case(FLOWS / "branch.py", "branching", {"n": 12, "loud": True}),  # small is skipped
    "empty": Case(FLOWS / "fanout.py", "hello", {"n": 0}),
    "nested": Case(FLOWS / "shapes.py", "nested_join", {"n": 3}),  # chunk[0]: an empty inner fan-out
    "chunked": Case(FLOWS / "fanout.py", "hello", {"n": 7}, max_map_length=3),  # 3 chunks of <= 3
    "retrying": Case(FLOWS / "faults.py", "retrying", {"n": 2}),  # flaky fails once per item
    "failing": Case(FLOWS / "faults.py", "failing", {"n": 3}),  # fragile[2] fails
    "gated": Case(FLOWS / "shapes.py", "gated_items", {"n": 4}),  # a condition per mapped item
    "loop": Case(FLOWS / "shapes.py", "halving", {}),  # a data-dependent loop: one mapped command
}
SHAPES = ["linear", "branching", "empty", "nested", "chunked", "retrying", "gated", "loop"]


@dataclass
class DagRun:
    dag_id: str
    home: Path  # the shipyard home the DAG's commands wrote to
    returncode: int
    log: str
    state: str
    run_key: str

    @property
    def settings(self) -> Settings:
        return load_settings(home=self.home)


def _airflow_python(major: int) -> Path:
    try:
        venv = ensure_airflow(major)
    except AirflowUnavailable as exc:
        require(False, f"no Airflow {major} to test the exported DAGs with: {exc}")
        raise
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    return _airflow_python(3)


def _airflow(python: Path, env: dict[str, str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(python), "-m", "airflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"airflow {' '.join(args)}: {done.stderr[-3000:]}"
    return done.stdout


def _migrated(python: Path, home: Path) -> Path:
    """An Airflow home with a migrated SQLite database, to copy for each DAG run."""
    _airflow(python, airflow_env(home, home / "dags"), "db", "migrate")
    return home / "airflow.db"


def _dags_test(python: Path, database: Path, base: Path, name: str) -> DagRun:
    """CASES[name] exported with the local operator into ``base`` and run by ``airflow dags test``."""
    case = CASES[name]
    params = dict(case.params)
    if name == "retrying":
        params["state_dir"] = str(base / "state")
        (base / "state").mkdir(parents=True)
    dag_id = f"shipyard_test_{name}"
    options = AirflowOptions(
        "local", dag_id=dag_id, python=sys.executable, max_map_length=case.max_map_length
    )
    export(case.file, params, base / "dags", options, flow_name=case.flow)
    (base / "airflow").mkdir()
    shutil.copy(database, base / "airflow" / "airflow.db")
    env = airflow_env(
        base / "airflow",
        base / "dags",
        SHIPYARD_HOME=str(base / "shipyard"),
        PYTHONPATH=SRC,
        AIRFLOW__CORE__MAX_MAP_LENGTH=str(case.max_map_length),
    )
    with open(base / "dags-test.log", "w+") as log:
        done = subprocess.run(
            [str(python), "-m", "airflow", "dags", "test", dag_id],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=DAG_TEST_TIMEOUT_S,
            check=False,
        )
        log.seek(0)
        text = log.read()
    found = re.search(rf"DagRun Finished: dag_id={dag_id}, .*?run_id=(\S+?), .*?state=(\w+)", text)
    assert found, f"{name}: no finished DAG run in the log of airflow dags test:\n{text[-3000:]}"
    return DagRun(dag_id, base / "shipyard", done.returncode, text, found[2], f"{dag_id}/{found[1]}")


@pytest.fixture(scope="module")
def airflow_runs(airflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, DagRun]:
    """Every case run by Airflow 3, concurrently, each in its own Airflow and shipyard home."""
    root = tmp_path_factory.mktemp("airflow")
    database = _migrated(airflow_python, root / "template")
    workers = int(os.environ.get("SHIPYARD_TEST_AIRFLOW_PARALLEL", "4"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        runs = pool.map(lambda name: _dags_test(airflow_python, database, root / name, name), CASES)
        return dict(zip(CASES, runs, strict=True))


@pytest.fixture
def stores_of() -> Iterator[Any]:
    opened: list[RunStores] = []

    def open_for(settings: Settings) -> RunStores:
        opened.append(open_run_stores(settings))
        return opened[-1]

    yield open_for
    for s in opened:
        s.close()


def _tasks(stores: RunStores, run_id: str) -> dict[str, str]:
    return {t.key: t.status.value for t in stores.metadata.list_tasks(run_id)}


def _started(dag: DagRun, task_id: str) -> list[int]:
    """The map indexes of ``task_id`` that Airflow ran."""
    pattern = rf"\[DAG TEST\] end task task_id={re.escape(task_id)} map_index=(-?\d+)"
    return sorted(int(m) for m in re.findall(pattern, dag.log))


@pytest.mark.parametrize("name", SHAPES)
def test_airflow_runs_the_exported_dag_like_shipyard_run(
    airflow_runs: dict[str, DagRun], stores_of: Any, name: str, tmp_path: Path
) -> None:
    dag, case = airflow_runs[name], CASES[name]
    assert dag.state == "success" and dag.returncode == 0, dag.log[-3000:]
    stores = stores_of(dag.settings)
    got = FlowRun(stores, run_id_for(dag.run_key))
    assert got.status is RunStatus.SUCCEEDED, got.error
    assert got.info.tags[ORCHESTRATOR_TAG] == "airflow"
    params = dict(case.params)
    if name == "retrying":  # its own state: the local run's first attempts fail too
        params["state_dir"] = str(tmp_path)
    assert_same_run(
        stores, got, run_file(case.file, params, dag.settings, RunOptions(max_workers=2), case.flow)
    )


def assert_same_run(stores: RunStores, got: FlowRun, expected: FlowRun) -> None:
    """The same output, task keys and statuses, and each task's inputs (lineage) named alike."""
    assert expected.status is RunStatus.SUCCEEDED, expected.error
    assert got.output == expected.output
    ours, theirs = _tasks(stores, got.id), _tasks(stores, expected.id)
    assert ours.keys() == theirs.keys()
    for key, status in theirs.items():  # a cache=True step is CACHED in whichever run came second
        assert ours[key] == status or {ours[key], status} == {"succeeded", "cached"}, key
    by_key = {t.key: t for t in stores.metadata.list_tasks(expected.id)}
    for task in stores.metadata.list_tasks(got.id):
        mine = sorted(e.input_name for e in stores.metadata.task_inputs(task.id))
        assert mine == sorted(e.input_name for e in stores.metadata.task_inputs(by_key[task.key].id)), (
            task.key
        )


def test_a_false_condition_and_an_empty_fan_out_skip_their_mapped_tasks(
    airflow_runs: dict[str, DagRun],
) -> None:
    branching, empty = airflow_runs["branching"], airflow_runs["empty"]
    assert _started(branching, "expand_small") == [-1] and _started(branching, "run_small") == []
    assert _started(branching, "run_big") == [0] and _started(branching, "run_shout") == [0]
    assert _started(empty, "run_square") == [] and _started(empty, "run_total") == [0]


def test_a_fan_out_wider_than_max_map_length_runs_in_chunks(
    airflow_runs: dict[str, DagRun], stores_of: Any
) -> None:
    dag = airflow_runs["chunked"]
    assert _started(dag, "run_square") == [0, 1, 2]  # 7 tasks, Airflow's limit 3: chunks of 3
    tasks = _tasks(stores_of(dag.settings), run_id_for(dag.run_key))
    assert [k for k in tasks if k.startswith("square")] == [f"square[{i}]" for i in range(7)]


def test_airflow_retries_a_failed_chunk_as_the_next_attempt(
    airflow_runs: dict[str, DagRun], stores_of: Any
) -> None:
    dag = airflow_runs["retrying"]
    flaky = [
        t for t in stores_of(dag.settings).metadata.list_tasks(run_id_for(dag.run_key)) if t.step == "flaky"
    ]
    assert len(flaky) == 2 and all(t.attempts == 2 and t.status is TaskStatus.SUCCEEDED for t in flaky)
    assert all(_started(dag, "run_flaky").count(i) == 2 for i in range(2))


def test_a_failing_step_fails_the_dag_run_and_the_shipyard_run(
    airflow_runs: dict[str, DagRun], stores_of: Any
) -> None:
    dag = airflow_runs["failing"]
    assert dag.state == "failed"
    run = FlowRun(stores_of(dag.settings), run_id_for(dag.run_key))
    assert run.status is RunStatus.FAILED
    assert "fragile[2]" in (run.error or "") and "boom on item 2" in (run.error or "")
    assert _started(dag, "finish") == [-1]  # finish ran (all_done) and failed the DAG run
    assert _started(dag, "expand_total") == []  # upstream failed
    tasks = _tasks(stores_of(dag.settings), run.id)
    assert tasks["fragile[2]"] == "failed" and tasks["fragile[0]"] == "succeeded" and "total" not in tasks


def test_exported_dags_import_into_a_dagbag_fast(airflow_python: Path, tmp_path: Path) -> None:
    """Every variant in one DagBag: no import error, each file parsed in under 0.5 s, the wiring
    and task settings as exported, and the chunk mapping within max_map_length at any width."""
    dags = tmp_path / "dags"
    for name in ("linear", "branching", "nested"):
        case = CASES[name]
        export(
            case.file, case.params, dags, AirflowOptions("local", dag_id=f"local_{name}"), flow_name=case.flow
        )
    export(FLOWS / "shapes.py", {}, dags, AirflowOptions("local", dag_id="local_loop"), flow_name="halving")
    export(
        OPTIONS_FLOW,
        {},
        dags,
        AirflowOptions("local", dag_id="local_options", pool="ml"),
        flow_name="options",
    )
    k8s = AirflowOptions(dag_id="k8s_options", image="reg/app:1", schedule="0 3 * * *")
    export(OPTIONS_FLOW, {}, dags, k8s, flow_name="options")
    env = airflow_env(tmp_path / "airflow", dags)
    done = subprocess.run(
        [str(airflow_python), str(PROBE), str(dags), "--mapping", "0", "7", "1024", "1025", "2000", "10000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["version"].startswith("3.")
    assert report["errors"] == {}
    assert len(report["files"]) == 6
    for file, stat in report["files"].items():
        assert stat["dags"] == 1 and stat["duration_s"] < 0.5, (file, stat)
    for file, mapping in report["mapping"].items():
        for n, chunks in mapping.items():
            assert len(chunks) <= 1024 and sum(c for _, c in chunks) >= int(n), (file, n)
    assert len(report["mapping"]["local_options.py"]["2000"]) == 1000

    branching = report["dags"]["local_branching"]["tasks"]
    assert branching["expand_shout"]["upstream"] == ["run_big", "run_small"]
    assert branching["expand_shout"]["trigger_rule"] == "none_failed"
    assert branching["run_shout"] == branching["run_shout"] | {"mapped": True, "upstream": ["expand_shout"]}
    assert branching["finish"]["trigger_rule"] == "all_done"
    assert branching["finish"]["upstream"] == sorted(
        f"run_{s}" for s in ("measure", "is_big", "big", "small", "shout")
    )
    assert report["dags"]["local_loop"]["tasks"].keys() == {
        "start",
        "finish",
        *(f"{p}_{s}" for p in ("expand", "run") for s in ("first", "halve", "done")),
    }
    prepare = report["dags"]["local_options"]["tasks"]["run_prepare"]
    assert (prepare["retries"], prepare["retry_delay_s"], prepare["retry_exponential_backoff"]) == (
        3,
        2.0,
        2.0,
    )
    assert (prepare["pool"], prepare["pool_slots"]) == ("ml", 3)  # cpu=2.5
    options = report["dags"]["local_options"]["tasks"]
    assert options["run_train"]["queue"] == "gpu" and options["run_report"]["queue"] == "default"
    pods = report["dags"]["k8s_options"]
    assert "0 3 * * *" in pods["schedule"]
    assert pods["tasks"]["expand_train"]["type"] == "KubernetesPodOperator"
    assert pods["tasks"]["chunks_train"]["upstream"] == ["expand_train"]
    assert pods["tasks"]["run_train"]["mapped"] and pods["tasks"]["run_train"]["upstream"] == ["chunks_train"]


def test_airflow_2_10_parses_and_runs_the_same_dag_file(tmp_path: Path, stores_of: Any) -> None:
    """The file's fallback imports: Airflow 2.10 runs static branches with a skipped condition."""
    python = _airflow_python(2)
    dag = _dags_test(python, _migrated(python, tmp_path / "template"), tmp_path / "run", "branching")
    assert dag.state == "success" and dag.returncode == 0, dag.log[-3000:]
    assert _started(dag, "run_small") == [] and _started(dag, "run_shout") == [0]
    done = subprocess.run(
        [str(python), str(PROBE), str(tmp_path / "run" / "dags")],
        env=airflow_env(tmp_path / "probe", tmp_path / "run" / "dags"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["version"].startswith("2.10") and report["errors"] == {}
    assert all(stat["duration_s"] < 0.5 for stat in report["files"].values()), report["files"]
    stores = stores_of(dag.settings)
    case = CASES["branching"]
    expected = run_file(case.file, case.params, dag.settings, RunOptions(max_workers=2), case.flow)
    assert_same_run(stores, FlowRun(stores, run_id_for(dag.run_key)), expected)
