"""A flow as an Airflow DAG file (Airflow 3; the imports fall back to Airflow 2.10's names).

The DAG runs the orchestrated-run commands (:mod:`shipyard.exporters.commands`): task ``start``;
per exported step ``X``, ``expand_X`` (creates X's tasks once its inputs finished, trigger rule
``none_failed``) and ``run_X``, mapped over the chunks ``expand_X`` returns; and ``finish``
(trigger rule ``all_done``; it fails, and so fails the DAG run, when the shipyard run FAILED).
A fan-out wider than Airflow's ``max_map_length`` (1,024) runs in ``ceil(tasks / 1024)``-task
chunks, so the mapping never exceeds it; item lists stay in the artifact store. A false condition
expands to no task: Airflow marks the empty mapping skipped and the steps after it still run.

The generated file imports only Airflow (and ``subprocess``): Airflow parses DAG files often, and
its workers run shipyard's commands as subprocesses (``--operator local``, with ``--python``) or
in pods of the step's image (``--operator kubernetes``: KubernetesPodOperator; the settings come
from the Kubernetes Secret ``--env-secret`` as environment variables). Retries and their delay
(doubled per retry) come from the step; with ``--pool``, a step takes ``ceil(cpu)`` slots of that
pool; a step asking for a GPU runs on ``--gpu-queue``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from shipyard.core.errors import FlowError
from shipyard.exporters import commands
from shipyard.exporters.commands import FlowRef
from shipyard.flows.graph import Graph
from shipyard.runtime.orchestrated import graph_digest

Operator = Literal["kubernetes", "local"]
OPERATORS: tuple[Operator, ...] = ("kubernetes", "local")
MAX_MAP_LENGTH = 1024  # Airflow's [core] max_map_length default
# placeholders the generated DAG replaces in each command line (a whole argument each)
RUN_KEY = "{run_key}"
INDEX = "{index}"
CHUNK = "{chunk}"
XCOM_FILE = "/airflow/xcom/return.json"  # where KubernetesPodOperator reads a pod's XCom
_DAG_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?#L-]+")
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?")


@dataclass(frozen=True)
class AirflowOptions:
    """How to export: ``operator`` local (a subprocess in the worker, ``python`` the interpreter
    with shipyard installed) or kubernetes (a pod of the step's ``image=`` or ``image``)."""

    operator: Operator = "kubernetes"
    dag_id: str | None = None  # default: shipyard_<flow>
    schedule: str | None = None  # a cron expression or an Airflow preset (@daily); None: manual
    python: str = "python"
    image: str | None = None
    namespace: str | None = None  # the pods' namespace (kubernetes; default: the provider's)
    env_secret: str = "shipyard"  # noqa: S105 (the name of the Secret the pods' environment comes from)
    pool: str | None = None
    gpu_queue: str = "gpu"
    max_map_length: int = MAX_MAP_LENGTH


def validate(options: AirflowOptions) -> None:
    """FlowError (one line, naming the option) for an option Airflow or Kubernetes would refuse."""
    if options.operator not in OPERATORS:
        raise FlowError(f"--operator {options.operator!r} is not one of: {', '.join(OPERATORS)}")
    if options.dag_id is not None and not _DAG_ID.fullmatch(options.dag_id):
        raise FlowError(f"--dag-id {options.dag_id!r}: use 1 to 200 letters, digits, '_', '-' or '.'")
    if options.schedule is not None:
        check_schedule(options.schedule)
    if not 1 <= options.max_map_length <= 1_000_000:
        raise FlowError(f"--max-map-length must be between 1 and 1000000, got {options.max_map_length}")
    if not options.python.strip():
        raise FlowError("--python must name an interpreter, e.g. /opt/venv/bin/python")
    if options.pool is not None and not _DAG_ID.fullmatch(options.pool):
        raise FlowError(f"--pool {options.pool!r}: use letters, digits, '_', '-' or '.'")
    if not _DAG_ID.fullmatch(options.gpu_queue):
        raise FlowError(f"--gpu-queue {options.gpu_queue!r}: use letters, digits, '_', '-' or '.'")
    if options.operator == "kubernetes" and not _K8S_NAME.fullmatch(options.env_secret):
        raise FlowError(f"--env-secret {options.env_secret!r} is not a Kubernetes Secret name")


def check_schedule(schedule: str) -> None:
    fields = schedule.split()
    if schedule in _PRESETS or (len(fields) == 5 and all(_CRON_FIELD.fullmatch(f) for f in fields)):
        return
    raise FlowError(
        f"--schedule {schedule!r} is not a cron expression (5 fields, e.g. '0 * * * *') "
        f"or one of {', '.join(_PRESETS)}"
    )


# ---- the steps' settings ----------------------------------------------------------------------
def _upstream_steps(graph: Graph, name: str, exported: set[str]) -> list[str]:
    """The exported steps ``name`` waits for: its upstream nodes, through picks and loop checks."""
    found: list[str] = []
    seen: set[str] = set()
    todo = list(graph.nodes[name].upstream)
    while todo:
        up = todo.pop(0)
        if up in seen:
            continue
        seen.add(up)
        node = graph.nodes[up]
        if up in exported:
            found.append(up)
        elif node.loop_of is not None:
            todo.append(node.loop_of)  # a loop's check runs inside its body's command
        else:
            todo.extend(node.upstream)
    return found


def _step(flow: FlowRef, name: str, exported: set[str], options: AirflowOptions) -> dict[str, Any]:
    opts = flow.graph.nodes[name].opts
    resources = opts.get("resources") or {}
    cpu, gpu = float(resources.get("cpu") or 0), int(resources.get("gpu") or 0)
    memory_mb = int(resources.get("memory_mb") or 0)
    task: dict[str, Any] = {"retries": int(opts.get("retries") or 0)}
    if task["retries"]:
        task["retry_delay_s"] = float(opts.get("retry_delay") or 0)
    if options.pool is not None:
        task["pool"] = options.pool
        task["pool_slots"] = max(1, math.ceil(cpu))
    if gpu:
        task["queue"] = options.gpu_queue
    run = commands.run(RUN_KEY, name, INDEX, 1)
    run[run.index("--chunk") + 1] = CHUNK  # the chunk size is known once the step expanded
    step: dict[str, Any] = {
        "after": _upstream_steps(flow.graph, name, exported),
        "expand": _args(commands.expand(RUN_KEY, name, 1, _xcom(options))),
        "run": _args(run),
        "task": task,
    }
    if options.operator == "local":
        step["timeout_s"] = float(opts["timeout"]) if opts.get("timeout") else None
    else:
        image = opts.get("image") or options.image
        if not image:
            raise FlowError(
                f"step {name!r} has no image: pass --image REGISTRY/NAME:TAG (or @step(image=...)), "
                "or export with --operator local"
            )
        step["image"] = str(image)
        step["resources"] = _k8s_resources(cpu, memory_mb, gpu)
    return step


def _xcom(options: AirflowOptions) -> str | None:
    return XCOM_FILE if options.operator == "kubernetes" else None


def _args(argv: list[str]) -> list[str]:
    """A command line less the entry point (``ENTRY`` in the DAG file)."""
    assert argv[: len(commands.ENTRY)] == commands.ENTRY, argv
    return argv[len(commands.ENTRY) :]


def _k8s_resources(cpu: float, memory_mb: int, gpu: int) -> dict[str, dict[str, str]]:
    requests: dict[str, str] = {}
    if cpu:
        requests["cpu"] = f"{cpu:g}"
    if memory_mb:
        requests["memory"] = f"{memory_mb}Mi"
    out: dict[str, dict[str, str]] = {"requests": requests} if requests else {}
    if gpu:
        out["limits"] = {"nvidia.com/gpu": str(gpu)}
    return out


# ---- the DAG file -----------------------------------------------------------------------------
def render(flow: FlowRef, options: AirflowOptions, source: str = "") -> str:
    """The DAG file's text: constants (the command lines, per-step settings) and a fixed body."""
    validate(options)
    names = flow.steps
    for name in names:  # each becomes part of a task id: expand_<name>, run_<name>
        if not _DAG_ID.fullmatch(name):
            raise FlowError(
                f"step {name!r} cannot name an Airflow task: rename it (@step(name=...)) with letters, "
                "digits, '_', '-' or '.'"
            )
    exported = set(names)
    steps = {name: _step(flow, name, exported, options) for name in names}
    dag_id = options.dag_id or _default_dag_id(flow.name)
    start = commands.start(flow, RUN_KEY, "airflow")
    consts = {
        "DAG_ID": dag_id,
        "SCHEDULE": options.schedule,
        "ASSETS": [asset_uri(source) for source in flow.triggers],
        "MAX_MAP": options.max_map_length,
        "RUN_KEY": RUN_KEY,
        "INDEX": INDEX,
        "CHUNK": CHUNK,
        "ENTRY": [options.python, *commands.ENTRY[1:]],
        "START": _args(start),
        "FINISH": _args(commands.finish(RUN_KEY)),
    }
    if options.operator == "kubernetes":
        consts |= {"NAMESPACE": options.namespace, "ENV_SECRET": options.env_secret}
        consts["IMAGE"] = options.image or next(iter(steps.values()))["image"]
    lines = [f"{name} = {_literal(value)}" for name, value in consts.items()]
    lines.append(f"STEPS = {_literal(steps)}")
    header = _HEADER.format(flow=flow.name, source=source or flow.path, digest=graph_digest(flow.graph)[:16])
    body = _LOCAL if options.operator == "local" else _KUBERNETES
    return header + _IMPORTS[options.operator] + "\n" + "\n".join(lines) + "\n" + body


def _literal(value: Any, depth: int = 0) -> str:
    """A Python literal: dicts one key a line (two levels deep), anything else on one line."""
    if isinstance(value, dict) and value and depth < 2:
        pad = "    " * (depth + 1)
        items = [f"{pad}{k!r}: {_literal(v, depth + 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + "    " * depth + "}"
    return repr(value)


def asset_uri(source: str) -> str:
    """The Airflow asset (dataset) a trigger source stands for: ``dataset:transactions`` ->
    ``shipyard://dataset/transactions``, ``model-alias:churn@champion`` ->
    ``shipyard://model-alias/churn/champion`` (``*``: any alias)."""
    from urllib.parse import quote

    kind, _, rest = source.partition(":")
    parts = rest.split("@") if kind == "model-alias" else [rest]
    return f"shipyard://{kind}/" + "/".join(quote(part, safe="") for part in parts)


def _default_dag_id(flow_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"shipyard_{flow_name}")[:200]


def export(
    flow_file: Path,
    params: Mapping[str, Any],
    out: Path,
    options: AirflowOptions,
    *,
    flow_name: str | None = None,
    flow_path: str | None = None,
) -> Path:
    """Write the DAG file for ``flow_file``'s flow into ``out`` (a folder, or a ``.py`` file);
    returns its path. The schedule is ``options.schedule``, else the flow's own (if it has one).
    ``flow_path``: the flow file as the tasks see it (default: its absolute path for local tasks,
    its path relative to the current folder in an image)."""
    from shipyard.runtime.loader import load_flow

    loaded = load_flow(flow_file, flow_name)
    schedule = getattr(loaded.flow, "schedule", None)  # @flow(schedule=...), where a flow has one
    if options.schedule is None and isinstance(schedule, str):
        options = replace(options, schedule=schedule)
    validate(options)
    graph = loaded.flow.build(params)
    if flow_path is None:
        flow_path = str(loaded.path) if options.operator == "local" else _relative(loaded.path)
    triggers = tuple(t.source for t in getattr(loaded.flow, "triggers", ()))
    ref = FlowRef(flow_path, loaded.flow.name, graph, graph.params, triggers=triggers)
    text = render(ref, options, source=str(flow_file))
    dag_id = options.dag_id or _default_dag_id(ref.name)
    target = out if out.suffix == ".py" else out / f"{dag_id}.py"
    if target.parent.exists() and not target.parent.is_dir():
        raise FlowError(f"-o {str(out)!r}: {str(target.parent)!r} is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


_HEADER = '''\
"""shipyard flow {flow!r} ({source}) as an Airflow DAG, written by `shipyard export airflow`.

Every task runs one command of a shipyard orchestrated run: start; per step, expand (creates the
step's tasks, returns its chunks) and run (mapped, one per chunk); finish (always; it fails when a
step failed). Exported from graph {digest}: change the flow and export again rather than edit this.
"""

from __future__ import annotations

import datetime
'''

_IMPORTS: dict[str, str] = {
    "local": """\
import json
import math
import subprocess
import sys

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.10
    from airflow import DAG
    from airflow.decorators import task
""",
    "kubernetes": """\
import math

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.10
    from airflow import DAG
    from airflow.decorators import task
""",
}

_COMMON = '''

def _argv(template, key, index=0, chunk=1):
    """ENTRY and the command, with the run key (and the chunk) filled in."""
    subs = {RUN_KEY: key, INDEX: str(index), CHUNK: str(chunk)}
    return ENTRY + [subs.get(arg, arg) for arg in template]


def _mapping(tasks):
    """[index, chunk] per chunk: one task a chunk, or as many as keep the mapping within MAX_MAP."""
    chunk = max(1, math.ceil(tasks / MAX_MAP))
    return [[index, chunk] for index in range(math.ceil(tasks / chunk))]


def _schedule():
    """SCHEDULE (cron), or the flow's triggers as assets (any one of them starts a run), or both."""
    if not ASSETS:
        return SCHEDULE
    try:
        from airflow.sdk import Asset
    except ImportError:  # Airflow 2.10
        from airflow.datasets import Dataset as Asset
    condition = Asset(ASSETS[0])
    for uri in ASSETS[1:]:
        condition = condition | Asset(uri)
    if SCHEDULE is None:
        return condition
    from airflow.timetables.trigger import CronTriggerTimetable

    try:
        from airflow.timetables.assets import AssetOrTimeSchedule
    except ImportError:  # Airflow 2.10
        from airflow.timetables.datasets import DatasetOrTimeSchedule

        timetable = CronTriggerTimetable(SCHEDULE, timezone="UTC")
        return DatasetOrTimeSchedule(timetable=timetable, datasets=condition)
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(SCHEDULE, timezone="UTC"), assets=condition)


def _task_args(step):
    args = dict(step["task"])
    delay = args.pop("retry_delay_s", None)
    if delay is not None:
        args["retry_delay"] = datetime.timedelta(seconds=delay)
        args["retry_exponential_backoff"] = 2.0  # doubled per retry (a flag in Airflow 2)
    return args

'''

_LOCAL = (
    _COMMON
    + """
def _call(argv, timeout=None):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RuntimeError(f"shipyard {argv[len(ENTRY)]} failed: {lines[-1]}")
    return done.stdout


def _key(context):
    return f"{context['dag'].dag_id}/{context['run_id']}"


@task
def _start(**context):
    _call(_argv(START, _key(context)))


@task
def _expand(node, **context):
    out = _call(_argv(STEPS[node]["expand"], _key(context)))
    return _mapping(json.loads(out.strip().splitlines()[-1])["tasks"])


@task
def _run(node, item, **context):
    index, chunk = item
    timeout = STEPS[node]["timeout_s"]
    _call(_argv(STEPS[node]["run"], _key(context), index, chunk), timeout * chunk if timeout else None)


@task
def _finish(**context):
    _call(_argv(FINISH, _key(context)))


with DAG(
    dag_id=DAG_ID,
    schedule=_schedule(),
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["shipyard"],
    doc_md=__doc__,
):
    start = _start.override(task_id="start")()
    finish = _finish.override(task_id="finish", trigger_rule="all_done")()
    runs = {}
    for name, step in STEPS.items():
        expand = _expand.override(task_id=f"expand_{name}", trigger_rule="none_failed")(name)
        run = _run.override(task_id=f"run_{name}", **_task_args(step)).partial(node=name).expand(item=expand)
        for up in step["after"] or ["start"]:
            (runs[up] if up != "start" else start) >> expand
        run >> finish
        runs[name] = run
"""
)

_KUBERNETES = (
    _COMMON
    + '''
KEY = "{{ dag.dag_id }}/{{ run_id }}"  # rendered by Airflow in each pod's arguments


def _resources(resources):
    return {"container_resources": k8s.V1ResourceRequirements(**resources)} if resources else {}


def _pod(task_id, argv, image=IMAGE, resources=None, **kwargs):
    return KubernetesPodOperator(
        task_id=task_id,
        name=task_id.replace("_", "-").lower(),
        namespace=NAMESPACE,
        image=image,
        cmds=ENTRY[:1],
        arguments=_argv(argv, KEY)[1:],
        env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=ENV_SECRET))],
        get_logs=True,
        on_finish_action="delete_pod",
        **_resources(resources),
        **kwargs,
    )


@task
def _chunks(tasks, node):
    """The arguments of each chunk's pod (the run key left for Airflow to render in the pod)."""
    return [_argv(STEPS[node]["run"], KEY, index, chunk)[1:] for index, chunk in _mapping(int(tasks))]


with DAG(
    dag_id=DAG_ID,
    schedule=_schedule(),
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["shipyard"],
    doc_md=__doc__,
):
    start = _pod("start", START)
    finish = _pod("finish", FINISH, trigger_rule="all_done")
    runs = {}
    for name, step in STEPS.items():
        expand = _pod(
            f"expand_{name}", step["expand"], step["image"], trigger_rule="none_failed", do_xcom_push=True
        )
        chunks = _chunks.override(task_id=f"chunks_{name}")(expand.output, name)
        run = KubernetesPodOperator.partial(
            task_id=f"run_{name}",
            name=f"run-{name}".replace("_", "-").lower(),
            namespace=NAMESPACE,
            image=step["image"],
            cmds=ENTRY[:1],
            env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=ENV_SECRET))],
            get_logs=True,
            on_finish_action="delete_pod",
            **_resources(step["resources"]),
            **_task_args(step),
        ).expand(arguments=chunks)
        for up in step["after"] or ["start"]:
            (runs[up] if up != "start" else start) >> expand
        run >> finish
        runs[name] = run
'''
)
