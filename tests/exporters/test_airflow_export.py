"""The Airflow exporter (exporters/airflow.py, cli/export_airflow.py) without Airflow: what the DAG
file holds — the orchestrated-run commands per step, the wiring through picks and loops, task
settings from step options — and the CLI's one-line errors. tests/exporters/test_airflow_real.py
imports and runs the same files in real Airflow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shipyard.cli.main import main
from shipyard.core.errors import FlowError
from shipyard.exporters.airflow import AirflowOptions, export, render
from shipyard.exporters.commands import FlowRef
from shipyard.flows.graph import RefInput
from shipyard.runtime.loader import load_flow
from shipyard.runtime.orchestrated import exported_steps, graph_digest

FLOWS = Path(__file__).resolve().parents[1] / "flows" / "flows_for_tests"
OPTIONS_FLOW = Path(__file__).with_name("options_flow.py")
ALLOWED_IMPORTS = {"__future__", "datetime", "json", "math", "subprocess", "sys"}


def ref(file: Path, flow: str, **params: Any) -> FlowRef:
    graph = load_flow(file, flow).flow.build(params)
    return FlowRef(str(file), flow, graph, graph.params)


def constants(text: str) -> dict[str, Any]:
    """The DAG file's upper-case constants, read as literals (the file itself needs Airflow)."""
    out: dict[str, Any] = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper() and name != "KEY":
                out[name] = ast.literal_eval(node.value)
    return out


def imports(text: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    ("file", "flow", "params"),
    [
        ("linear.py", "linear", {"n": 2}),
        ("branch.py", "branching", {"loud": True}),
        ("fanout.py", "nested", {}),
        ("shapes.py", "gated_nested", {}),
        ("shapes.py", "halving", {}),
    ],
)
def test_the_dag_file_runs_each_exported_step_and_imports_only_airflow(
    file: str, flow: str, params: dict[str, Any]
) -> None:
    flow_ref = ref(FLOWS / file, flow, **params)
    text = render(flow_ref, AirflowOptions(operator="local", python="/venv/bin/python"))
    compile(text, "dag.py", "exec")
    assert {m.split(".")[0] for m in imports(text)} <= ALLOWED_IMPORTS | {"airflow"}
    consts = constants(text)
    assert list(consts["STEPS"]) == exported_steps(flow_ref.graph)
    assert consts["ENTRY"] == ["/venv/bin/python", "-m", "shipyard.runtime.orchestrated"]
    assert consts["START"][-1] == str(FLOWS / file)
    assert consts["START"][consts["START"].index("--graph") + 1] == graph_digest(flow_ref.graph)
    for name, step in consts["STEPS"].items():
        assert step["expand"][0] == "expand" and step["expand"][-1] == name
        assert step["run"][-2:] == [name, "{index}"] and "{chunk}" in step["run"]


def test_each_step_waits_for_the_steps_it_reads_through_picks() -> None:
    steps = constants(render(ref(FLOWS / "branch.py", "branching", loud=True), AirflowOptions("local")))[
        "STEPS"
    ]
    assert {name: step["after"] for name, step in steps.items()} == {
        "measure": [],
        "is_big": ["measure"],
        "big": ["measure", "is_big"],
        "small": ["measure", "is_big"],
        "shout": ["big", "small"],  # through the pick of the two branches
    }
    loop = constants(render(ref(FLOWS / "shapes.py", "halving"), AirflowOptions("local")))["STEPS"]
    assert list(loop) == ["first", "halve", "done"]  # the loop's check runs inside halve's command
    assert loop["done"]["after"] == ["halve"]


def test_step_options_become_task_settings() -> None:
    flow_ref = ref(OPTIONS_FLOW, "options")
    local = constants(render(flow_ref, AirflowOptions("local", pool="ml", gpu_queue="gpus")))["STEPS"]
    assert local["prepare"]["task"] == {"retries": 3, "retry_delay_s": 2.0, "pool": "ml", "pool_slots": 3}
    assert local["prepare"]["timeout_s"] == 30.0
    assert local["train"]["task"] == {"retries": 0, "pool": "ml", "pool_slots": 1, "queue": "gpus"}
    assert constants(render(flow_ref, AirflowOptions("local")))["STEPS"]["report"]["task"] == {"retries": 0}
    k8s = constants(render(flow_ref, AirflowOptions(image="reg/app:1", namespace="ml")))
    assert k8s["STEPS"]["prepare"]["resources"] == {"requests": {"cpu": "2.5", "memory": "2048Mi"}}
    assert k8s["STEPS"]["train"]["resources"] == {
        "requests": {"cpu": "1"},
        "limits": {"nvidia.com/gpu": "1"},
    }
    assert k8s["STEPS"]["report"]["resources"] == {}
    assert {s["image"] for s in k8s["STEPS"].values()} == {"reg/app:1"}
    assert (k8s["NAMESPACE"], k8s["ENV_SECRET"]) == ("ml", "shipyard")
    # a pod's expand writes the step's task count where KubernetesPodOperator reads its XCom
    assert k8s["STEPS"]["train"]["expand"][-3:] == ["--out", "/airflow/xcom/return.json", "train"]


def test_a_step_image_wins_over_the_default_image() -> None:
    flow_ref = ref(OPTIONS_FLOW, "options")
    flow_ref.graph.nodes["train"].opts["image"] = "reg/gpu:2"  # as @step(image=...) records it
    steps = constants(render(flow_ref, AirflowOptions(image="reg/app:1")))["STEPS"]
    assert (steps["prepare"]["image"], steps["train"]["image"]) == ("reg/app:1", "reg/gpu:2")


def test_the_dag_file_stays_the_same_size_at_any_width() -> None:
    sizes = {
        n: len(render(ref(FLOWS / "fanout.py", "hello", n=n), AirflowOptions("local"))) for n in (10, 10_000)
    }
    assert sizes[10_000] - sizes[10] == 3  # the parameter's digits, nothing per item


def test_the_generated_helpers_fill_the_run_key_and_keep_the_mapping_within_the_limit() -> None:
    """The helpers of the DAG file, executed with a stand-in for Airflow's imports."""
    text = render(ref(FLOWS / "fanout.py", "hello", n=3), AirflowOptions("local", max_map_length=1024))
    helpers = text[text.index("def _argv") : text.index("def _task_args")]
    scope: dict[str, Any] = {}
    exec(  # the file's own constants and helpers, without the DAG (which needs Airflow)
        "import math\n" + "\n".join(f"{k} = {v!r}" for k, v in constants(text).items()) + "\n" + helpers,
        scope,
    )
    for tasks in (0, 1, 5, 1024, 1025, 2000, 10_000):
        mapping = scope["_mapping"](tasks)
        assert len(mapping) <= 1024
        chunk = mapping[0][1] if mapping else 1
        assert [i for i, _ in mapping] == list(range(len(mapping)))
        assert len(mapping) * chunk >= tasks > (len(mapping) - 1) * chunk
    argv = scope["_argv"](scope["STEPS"]["square"]["run"], "dag/run-1", 4, 2)
    assert argv[argv.index("--run-key") + 1] == "dag/run-1"
    assert argv[argv.index("--chunk") + 1] == "2" and argv[-2:] == ["square", "4"]


def test_export_writes_the_dag_into_a_folder_or_a_file(tmp_path: Path) -> None:
    options = AirflowOptions("local", schedule="0 * * * *")
    written = export(FLOWS / "fanout.py", {"n": "4"}, tmp_path / "dags", options, flow_name="hello")
    assert written == tmp_path / "dags" / "shipyard_hello.py"
    consts = constants(written.read_text())
    assert consts["SCHEDULE"] == "0 * * * *" and consts["DAG_ID"] == "shipyard_hello"
    assert consts["START"][consts["START"].index("-p") + 1] == "n=4"  # coerced from the CLI's string
    named = export(FLOWS / "linear.py", {}, tmp_path / "x" / "mine.py", AirflowOptions("local", dag_id="d.1"))
    assert named == tmp_path / "x" / "mine.py" and constants(named.read_text())["DAG_ID"] == "d.1"


def test_the_cli_writes_the_dag_and_prints_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            *("export", "airflow", str(FLOWS / "fanout.py"), "--flow", "hello", "-p", "n=2"),
            *("-o", str(tmp_path), "--image", "reg/app:1", "--schedule", "@daily", "--dag-id", "hello_k8s"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out.strip()
    assert out == str(tmp_path / "hello_k8s.py")
    text = Path(out).read_text()
    assert "KubernetesPodOperator" in text and constants(text)["SCHEDULE"] == "@daily"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--operator", "docker"], "--operator 'docker' is not one of: kubernetes, local"),
        (["--operator", "local", "--schedule", "hourly"], "--schedule 'hourly' is not a cron expression"),
        (["--operator", "local", "--dag-id", "a b"], "--dag-id 'a b'"),
        (["--operator", "local", "--max-map-length", "0"], "--max-map-length must be between"),
        ([], "step 'numbers' has no image: pass --image"),
        (["--image", "x", "--env-secret", "Bad_Name"], "--env-secret 'Bad_Name'"),
        (["--operator", "local", "-p", "n"], "parameter 'n' is not KEY=VALUE"),
        (["--operator", "local", "-p", "n=lots"], "parameter 'n' expects int"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    argv = [sys.executable, "-m", "shipyard.cli.main", "export", "airflow", str(FLOWS / "fanout.py")]
    done = subprocess.run(
        [*argv, "--flow", "hello", "-o", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert not list(tmp_path.iterdir())


def test_a_missing_flow_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="does not exist"):
        export(tmp_path / "nope.py", {}, tmp_path, AirflowOptions("local"))


def test_the_flow_path_the_tasks_see_can_be_given() -> None:
    flow_ref = ref(FLOWS / "linear.py", "linear")
    moved = FlowRef("/app/flows/linear.py", flow_ref.name, flow_ref.graph, flow_ref.params)
    consts = constants(render(moved, AirflowOptions(image="reg/app:1")))
    assert consts["START"][-1] == "/app/flows/linear.py"


def test_the_flow_s_own_schedule_is_used_unless_one_is_given(tmp_path: Path) -> None:
    flow_file = tmp_path / "scheduled.py"
    flow_file.write_text(
        (FLOWS / "linear.py").read_text()
        + '\nlinear.schedule = "30 2 * * *"  # as @flow(schedule=) sets it\n'
    )
    own = export(flow_file, {}, tmp_path / "a", AirflowOptions("local"))
    assert constants(own.read_text())["SCHEDULE"] == "30 2 * * *"
    given = export(flow_file, {}, tmp_path / "b", AirflowOptions("local", schedule="@hourly"))
    assert constants(given.read_text())["SCHEDULE"] == "@hourly"


def test_a_step_name_airflow_cannot_use_is_refused() -> None:
    flow_ref = ref(FLOWS / "linear.py", "linear")
    node = flow_ref.graph.nodes.pop("double")
    node.name = "double it"
    flow_ref.graph.nodes[node.name] = node
    for other in flow_ref.graph.nodes.values():
        other.inputs = {
            k: (RefInput("double it") if isinstance(v, RefInput) and v.node == "double" else v)
            for k, v in other.inputs.items()
        }
    with pytest.raises(FlowError, match="step 'double it' cannot name an Airflow task"):
        render(flow_ref, AirflowOptions("local"))
