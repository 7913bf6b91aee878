"""`shipyard export argo`: every graph shape exported, valid against Argo Workflows' published
schema, and executed container by container from the YAML by a local harness (argo_harness.py)
gives the same run as `shipyard run`; step options land where Kubernetes reads them."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.core.entities import ORCHESTRATOR_TAG, RunStatus
from shipyard.core.settings import Settings, load_settings
from shipyard.exporters.argo import ArgoOptions, export, to_yaml, upstream_steps
from shipyard.exporters.source import flow_ref
from shipyard.runtime.api import FlowRun
from shipyard.runtime.logs import task_logs
from shipyard.runtime.orchestrated import run_id_for
from shipyard.runtime.stores import RunStores, open_run_stores
from tests.exporters.argo_harness import ArgoHarness, Outcome
from tests.runtime.code_project import expected_values, write_project
from tests.runtime.test_orchestrated import SHAPES, local, summary

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "tests" / "flows" / "flows_for_tests"
OPTIONS_FLOW = Path(__file__).resolve().parent / "flows" / "options.py"
SECRETS_FLOW = REPO / "tests" / "secrets" / "flows" / "with_secrets.py"
ARGO_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]{0,127}")  # Argo's template and DAG task names
Validate = Callable[[Mapping[str, Any]], None]


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def stores(settings: Settings) -> Iterator[RunStores]:
    s = open_run_stores(settings)
    yield s
    s.close()


def exported(file: Path, flow: str | None, params: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    """What `shipyard export argo` writes, read back from its YAML."""
    code_dir = options.pop("code_dir", str(REPO))
    ref = flow_ref(file, {k: _cli(v) for k, v in params.items()}, flow, code_dir)
    doc = yaml.safe_load(to_yaml(export(ref, ArgoOptions(image="registry.example/fraud:1", **options))))
    assert isinstance(doc, dict)
    return doc


def _cli(value: Any) -> str:
    """A param as typed after -p (JSON for numbers, lists and booleans)."""
    return value if isinstance(value, str) else json.dumps(value)


def execute(doc: Mapping[str, Any], settings: Settings, tmp_path: Path, **kwargs: Any) -> tuple[Outcome, str]:
    """Run the workflow's containers; the store configuration reaches them through the Secret
    the exporter names in envFrom (as in a cluster). Returns the outcome and the run's id."""
    secrets = {"shipyard-env": {"SHIPYARD_HOME": str(settings.home)}, **kwargs.pop("secrets", {})}
    uid = kwargs.pop("uid", f"uid-{tmp_path.name}")
    harness = ArgoHarness(doc, tmp_path / "pods", secrets=secrets, uid=uid, **kwargs)
    return harness.run(), run_id_for(uid)


def _as_json(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))


# ---- every graph shape: exported, schema-valid, executed from the YAML ------------------------------
@pytest.mark.parametrize(("file", "flow", "params"), SHAPES, ids=[f"{f}-{p}" for _, f, p in SHAPES])
def test_an_exported_workflow_runs_like_shipyard_run(
    stores: RunStores,
    settings: Settings,
    validate_argo: Validate,
    tmp_path: Path,
    file: str,
    flow: str,
    params: dict[str, Any],
) -> None:
    path = FLOWS / file
    expected = local(settings, path, flow, **params)
    assert expected.status is RunStatus.SUCCEEDED, expected.error
    doc = exported(path, flow, params, chunk=2)
    validate_argo(doc)
    outcome, run_id = execute(doc, settings, tmp_path)
    assert outcome.phase == "Succeeded", [p.stderr for p in outcome.failed_pods()]
    got = FlowRun(stores, run_id)
    assert got.status is RunStatus.SUCCEEDED, got.error
    assert got.output == expected.output
    assert got.info.tags[ORCHESTRATOR_TAG] == "argo"
    local_tasks, argo_tasks = summary(stores, expected.id), summary(stores, run_id)
    assert argo_tasks.keys() == local_tasks.keys()
    for key, status in local_tasks.items():  # a cached step may be CACHED the second time
        assert argo_tasks[key] in {status, "cached"}, key
    # the harness ran what the spec says: one pod per chunk of each step that had tasks
    ran = [p.task for p in outcome.pods]
    assert ran[0] == "start" and ran[-1] == "onExit"
    assert all(s in {"Succeeded", "Skipped"} for s in outcome.tasks.values())


def test_a_skipped_step_and_an_empty_fan_out_skip_their_run_task(settings: Settings, tmp_path: Path) -> None:
    doc = exported(FLOWS / "branch.py", "branching", {"n": 3})  # is_big false: big is skipped
    outcome, _ = execute(doc, settings, tmp_path / "a")
    assert outcome.tasks["run-big"] == "Skipped" and outcome.tasks["run-small"] == "Succeeded"
    doc = exported(FLOWS / "fanout.py", "hello", {"n": 0})
    outcome, _ = execute(doc, settings, tmp_path / "b")
    assert outcome.tasks["run-square"] == "Skipped" and outcome.tasks["run-total"] == "Succeeded"


def test_the_workflow_waits_through_picks_and_loop_checks() -> None:
    graph = flow_ref(FLOWS / "branch.py", {"loud": "true"}, "branching").graph
    assert sorted(upstream_steps(graph, "shout")) == ["big", "small"]  # through pick
    graph = flow_ref(FLOWS / "shapes.py", {}, "halving").graph
    assert upstream_steps(graph, "done") == ["halve"]  # the loop's body, which runs its check


# ---- failures, retries ------------------------------------------------------------------------------
def test_a_failing_step_fails_the_run_through_the_exit_handler(
    stores: RunStores, settings: Settings, tmp_path: Path
) -> None:
    doc = exported(FLOWS / "shapes.py", "nested_join", {"n": 4, "marker": str(tmp_path / "never")})
    outcome, run_id = execute(doc, settings, tmp_path)
    assert outcome.phase == "Failed"
    assert outcome.tasks["run-inc"] == "Failed"
    assert outcome.tasks["expand-subtotal"] == "Omitted" and outcome.tasks["run-collect"] == "Omitted"
    assert outcome.pods[-1].task == "onExit" and outcome.exit_rc == 1  # finish ran, saw the failure
    run = stores.metadata.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert "inc[3][1]" in (run.error or "") and "not fixed yet" in (run.error or "")


def test_a_step_is_retried_by_argo_as_its_next_attempt(
    stores: RunStores, settings: Settings, validate_argo: Validate, tmp_path: Path
) -> None:
    doc = exported(OPTIONS_FLOW, None, {"marker": str(tmp_path / "tried")})
    validate_argo(doc)
    flaky = _template(doc, "run-flaky")
    assert flaky["retryStrategy"] == {
        "limit": "2",
        "retryPolicy": "Always",
        "backoff": {"duration": "0.5s", "factor": "2"},
    }
    secrets = {"shipyard-secrets": {"db_password": "s3cret-value"}}
    outcome, run_id = execute(doc, settings, tmp_path, secrets=secrets)
    assert outcome.phase == "Succeeded", [p.stderr for p in outcome.failed_pods()]
    assert [p.attempt for p in outcome.pods if p.task == "run-flaky"] == [1, 2]
    task = next(t for t in stores.metadata.list_tasks(run_id) if t.key == "flaky")
    assert task.attempts == 2 and task.status.value == "succeeded"
    # train read the Kubernetes Secret's value; report, a step without secrets, did not see it
    assert FlowRun(stores, run_id).output == {"x": 7, "saw_secret": 12, "report_sees_secret": False}


# ---- step options in the spec ----------------------------------------------------------------------
def _template(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    spec = doc["spec"].get("workflowSpec", doc["spec"])
    found = [t for t in spec["templates"] if t["name"] == name]
    assert len(found) == 1, name
    template = found[0]
    assert isinstance(template, dict)
    return template


def _task(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    main = _template(doc, "main")
    (task,) = [t for t in main["dag"]["tasks"] if t["name"] == name]
    assert isinstance(task, dict)
    return task


def test_resources_timeouts_placement_and_secrets_land_on_the_step_template(validate_argo: Validate) -> None:
    doc = exported(OPTIONS_FLOW, None, {}, chunk=3, env_config_map="shipyard-config")
    validate_argo(doc)
    train = _template(doc, "run-train")
    container = train["container"]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "2048Mi"},
        "limits": {"memory": "2048Mi", "nvidia.com/gpu": "1"},
    }
    assert train["activeDeadlineSeconds"] == "90"  # 30 s per task, 3 tasks per pod
    assert train["nodeSelector"] == {"pool": "gpu"}
    assert train["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert container["env"] == [
        {"name": "SHIPYARD_STEP_SECRETS", "value": "env"},
        {
            "name": "DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "shipyard-secrets", "key": "db_password"}},
        },
    ]
    assert container["envFrom"] == [
        {"configMapRef": {"name": "shipyard-config"}},
        {"secretRef": {"name": "shipyard-env"}},
    ]
    report = _template(doc, "run-report")
    assert report["container"]["resources"] == {"requests": {"cpu": "2"}}
    assert "env" not in report["container"] and "retryStrategy" not in report
    assert "activeDeadlineSeconds" not in report and "nodeSelector" not in report
    # the value of a secret is never in the spec, and every container reads the store configuration
    for template in doc["spec"]["templates"]:
        if "container" in template:
            assert {"secretRef": {"name": "shipyard-env"}} in template["container"]["envFrom"]
    assert "s3cret" not in yaml.safe_dump(doc)


def test_a_step_image_gets_its_own_expand_and_run_templates(validate_argo: Validate) -> None:
    ref = flow_ref(OPTIONS_FLOW, {}, None, "/app")
    ref.graph.nodes["train"].opts["image"] = "registry.example/gpu:2"  # as @step(image=...) records it
    doc = _as_json(export(ref, ArgoOptions(image="registry.example/fraud:1")))
    validate_argo(doc)
    assert _template(doc, "run-train")["container"]["image"] == "registry.example/gpu:2"
    assert _template(doc, "run-report")["container"]["image"] == "registry.example/fraud:1"
    assert _task(doc, "expand-train")["template"] == "expand-train"
    assert _template(doc, "expand-train")["container"]["image"] == "registry.example/gpu:2"
    assert _task(doc, "expand-report")["template"] == "expand"


def test_step_secrets_come_from_the_kubernetes_secret_and_stay_redacted(
    stores: RunStores, settings: Settings, tmp_path: Path
) -> None:
    value = "hunter2-argo-NOT-IN-LOGS"
    doc = exported(SECRETS_FLOW, "uses_secret", {})
    outcome, run_id = execute(doc, settings, tmp_path, secrets={"shipyard-secrets": {"db_password": value}})
    assert outcome.phase == "Succeeded", [p.stderr for p in outcome.failed_pods()]
    run = FlowRun(stores, run_id)
    assert run.outputs("connect") == [{"sha256": hashlib.sha256(value.encode()).hexdigest()}]
    assert run.outputs("after") == [False]  # only the step that declared it has the variable
    logs = {entry.task.key: entry for entry in task_logs(stores, run_id)}
    assert logs["connect"].stdout.decode() == "connecting with ***\n"
    # no such key in the Secret: the pod never starts, and the run fails naming the step
    outcome, run_id = execute(
        doc, settings, tmp_path / "missing", uid="uid-missing", secrets={"shipyard-secrets": {}}
    )
    assert outcome.phase == "Failed" and outcome.tasks["run-connect"] == "Failed"
    assert "connect" in (stores.metadata.get_run(run_id).error or "")


def test_a_loop_pod_gets_the_deadline_and_resources_of_every_iteration(validate_argo: Validate) -> None:
    ref = flow_ref(FLOWS / "shapes.py", {"max_iterations": "4"}, "halving", "/app")
    body, check = ref.graph.nodes["halve"], ref.graph.nodes["below_one"]
    body.opts.update(timeout=10, resources={"cpu": 1.0, "memory_mb": 512, "gpu": 0})
    check.opts.update(timeout=5, resources={"cpu": 2.0, "memory_mb": 256, "gpu": 0}, secrets=["db_password"])
    doc = _as_json(export(ref, ArgoOptions(image="registry.example/fraud:1", chunk=3)))
    validate_argo(doc)
    halve = _template(doc, "run-halve")
    assert halve["activeDeadlineSeconds"] == "60"  # (10 + 5) s x 4 iterations, whatever the chunk
    assert halve["container"]["resources"] == {
        "requests": {"cpu": "2", "memory": "512Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert [e["name"] for e in halve["container"]["env"]] == ["SHIPYARD_STEP_SECRETS", "DB_PASSWORD"]
    assert not any(t["name"] == "run-below-one" for t in doc["spec"]["templates"])  # driven by run-halve


def test_names_are_argo_names_and_distinct(validate_argo: Validate) -> None:
    doc = exported(FLOWS / "shapes.py", "deep_nested", {"n": 2})  # upto and upto.2
    validate_argo(doc)
    spec = doc["spec"]
    names = [t["name"] for t in spec["templates"]]
    tasks = [t["name"] for t in _template(doc, "main")["dag"]["tasks"]]
    for name in names + tasks:
        assert ARGO_NAME.fullmatch(name), name
    assert len(set(names)) == len(names) and len(set(tasks)) == len(tasks)
    assert {"run-upto", "run-upto-2"} <= set(names)
    assert _task(doc, "expand-upto-2")["arguments"]["parameters"] == [{"name": "step", "value": "upto.2"}]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])


# ---- wide fan-outs, schedules ----------------------------------------------------------------------
def test_a_wide_fan_out_exports_to_a_small_spec_of_the_same_size(validate_argo: Validate) -> None:
    sizes = {}
    for n in (10, 1_000, 10_000):
        ref = flow_ref(FLOWS / "fanout.py", {"n": str(n)}, "hello", "/app")
        text = to_yaml(export(ref, ArgoOptions(image="registry.example/fraud:1")))
        validate_argo(yaml.safe_load(text))
        sizes[n] = len(text.encode())
    assert sizes[10_000] < 100 * 1024
    assert max(sizes.values()) - min(sizes.values()) <= 3  # only the digits of n differ


def test_a_schedule_exports_a_cron_workflow_that_runs(
    stores: RunStores, settings: Settings, validate_argo: Validate, tmp_path: Path
) -> None:
    doc = exported(FLOWS / "linear.py", "linear", {"n": 3}, schedule="0 * * * *", timezone="Europe/Paris")
    validate_argo(doc)
    assert doc["kind"] == "CronWorkflow"
    assert doc["spec"]["schedules"] == ["0 * * * *"] and doc["spec"]["timezone"] == "Europe/Paris"
    assert doc["spec"]["workflowSpec"]["onExit"] == "finish"
    outcome, run_id = execute(doc, settings, tmp_path)
    assert outcome.phase == "Succeeded"
    assert FlowRun(stores, run_id).output == {"count": 3, "sum": 6}


def test_the_schema_check_catches_a_misspelt_field(validate_argo: Validate) -> None:
    doc = exported(FLOWS / "linear.py", "linear", {})
    task = _task(doc, "run-load")
    task["withSequense"] = task.pop("withSequence")
    with pytest.raises(AssertionError, match="withSequense"):
        validate_argo(doc)


# ---- the containers as processes, the flow file where --code-dir says ------------------------------
@pytest.mark.slow
def test_the_exported_commands_run_as_processes_from_the_code_dir(
    stores: RunStores, settings: Settings, tmp_path: Path
) -> None:
    app = tmp_path / "app"  # the image's copy of the project
    target = app / "tests" / "flows" / "flows_for_tests"
    target.mkdir(parents=True)
    shutil.copy(FLOWS / "fanout.py", target / "fanout.py")
    doc = exported(FLOWS / "fanout.py", "hello", {"n": 3}, chunk=2, code_dir=str(app))
    assert _template(doc, "start")["container"]["command"][-1] == str(target / "fanout.py")
    base_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")}
    outcome, run_id = execute(doc, settings, tmp_path, base_env=base_env, in_process=False)
    assert outcome.phase == "Succeeded", [p.stderr for p in outcome.failed_pods()]
    assert [p.task for p in outcome.pods].count("run-square") == 2  # 3 tasks in chunks of 2
    run = FlowRun(stores, run_id)
    assert run.output == 5 and run.info.tags[ORCHESTRATOR_TAG] == "argo"
    assert stores.metadata.get_run(run_id).flow_spec["file"] == str(target / "fanout.py")


# ---- the code from a package: the image holds no project --------------------------------------------
@pytest.mark.slow
def test_an_exported_workflow_runs_from_its_code_package(
    stores: RunStores, settings: Settings, tmp_path: Path
) -> None:
    flow_file = write_project(tmp_path / "project")
    ref = flow_ref(flow_file, {"n": "3"}, "packaged", package_store=stores.artifacts)
    assert ref.package is not None and ref.path == "flow.py"
    doc = yaml.safe_load(to_yaml(export(ref, ArgoOptions(image="registry.example/fraud:1"))))
    assert doc["spec"]["templates"] and "--code-package" in _template(doc, "start")["container"]["command"]
    shutil.move(tmp_path / "project", tmp_path / "gone")  # no pod can see the project folder
    base_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")}
    outcome, run_id = execute(doc, settings, tmp_path, base_env=base_env, in_process=False)
    assert outcome.phase == "Succeeded", [p.stderr for p in outcome.failed_pods()]
    run = FlowRun(stores, run_id)
    assert run.output["values"] == expected_values(3)
    code = settings.home / "code" / ref.package
    assert all(Path(f).is_relative_to(code) for f in run.output["flow_files"] + run.output["helper_files"])
    assert run.info.flow_spec["code_package"]["digest"] == ref.package  # the run names the same package
