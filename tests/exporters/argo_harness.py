"""Runs an exported Argo workflow's containers locally, in dependency order, the way Argo would.

What it understands is only what a DAG exported by shipyard uses, and it refuses anything else
(an unknown ``{{variable}}``, a ``depends`` expression other than ``a && b``, ``withItems``...), so
a spec it runs is one whose wiring it has checked:

- tasks run when every task they depend on is Succeeded or Skipped (a Failed or Omitted one omits
  them), and no task starts after one failed (Argo's DAG fail-fast); among the tasks that are
  ready, the one declared *last* runs first, so a missing ``depends`` shows as a task run too early;
- ``when`` (``A > B`` on integers), ``withSequence.count``, ``arguments``, ``inputs.parameters``,
  ``{{item}}``, ``{{workflow.uid}}``, ``{{tasks.T.outputs.parameters.P}}`` are resolved as Argo does;
  an output parameter is read from the file its ``valueFrom.path`` names (mapped into a folder of
  the harness, the argv rewritten to match);
- ``retryStrategy.limit`` retries a failed container (``retryPolicy`` Always/OnFailure; OnError
  retries nothing here, a non-zero exit being a failure), without waiting the backoff;
- ``activeDeadlineSeconds`` kills a container process after that long (process mode only);
- the container's environment is ``base_env`` plus its ``envFrom`` (Secrets and ConfigMaps given to
  the harness as dicts), plus its ``env`` (``value`` or ``valueFrom.secretKeyRef``); a Secret or key
  that does not exist fails the pod before it starts, as Kubernetes does;
- ``onExit`` runs last, whatever happened.

Containers run as processes (``python`` is this interpreter), or in this process
(``in_process=True``: ``python -m shipyard.runtime.orchestrated ARGS`` becomes a call of its
``main(ARGS)`` with ``os.environ`` set to the container's environment), which is the same command
without the interpreter's start-up cost.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENTRY = ["python", "-m", "shipyard.runtime.orchestrated"]
_VAR = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_WHEN = re.compile(r"\s*(-?\d+)\s*(>|<|>=|<=|==|!=)\s*(-?\d+)\s*")
_DEPENDS = re.compile(r"[A-Za-z0-9][-A-Za-z0-9]*(\s*&&\s*[A-Za-z0-9][-A-Za-z0-9]*)*")


class HarnessError(AssertionError):
    """The spec uses something the harness (and so the exporter's contract) does not allow."""


@dataclass
class Pod:
    task: str
    template: str
    argv: list[str]
    rc: int
    attempt: int
    stderr: str = ""


@dataclass
class Outcome:
    phase: str  # Succeeded | Failed
    tasks: dict[str, str] = field(default_factory=dict)  # Succeeded | Failed | Skipped | Omitted
    pods: list[Pod] = field(default_factory=list)
    exit_rc: int | None = None

    def failed_pods(self) -> list[Pod]:
        return [p for p in self.pods if p.rc != 0]


class ArgoHarness:
    def __init__(
        self,
        doc: Mapping[str, Any],
        workdir: Path,
        *,
        base_env: Mapping[str, str] | None = None,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        config_maps: Mapping[str, Mapping[str, str]] | None = None,
        in_process: bool = True,
        uid: str | None = None,
    ) -> None:
        spec = doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]
        self.spec = spec
        self.templates = {t["name"]: t for t in spec["templates"]}
        self.workdir = workdir
        self.base_env = dict(base_env or {})
        self.secrets = secrets or {}
        self.config_maps = config_maps or {}
        self.in_process = in_process
        self.globals = {"workflow.uid": uid or str(uuid.uuid4()), "workflow.name": doc["metadata"]["name"]}
        self._pods = 0

    # ---- the DAG ------------------------------------------------------------------------------
    def run(self) -> Outcome:
        outcome = Outcome(phase="Succeeded")
        tasks = self.templates[self.spec["entrypoint"]]["dag"]["tasks"]
        by_name = {t["name"]: t for t in tasks}
        deps = {t["name"]: self._depends(t, by_name) for t in tasks}
        outputs: dict[str, str] = {}
        failed = False
        while len(outcome.tasks) < len(tasks):
            ready = [
                t
                for t in tasks
                if t["name"] not in outcome.tasks and set(deps[t["name"]]) <= set(outcome.tasks)
            ]
            if not ready:
                raise HarnessError(f"the DAG has a cycle among {sorted(set(by_name) - set(outcome.tasks))}")
            task = ready[-1]  # the last declared first: a missing dependency shows
            name = task["name"]
            if failed or any(outcome.tasks[d] in {"Failed", "Omitted"} for d in deps[name]):
                outcome.tasks[name] = "Omitted"
                continue
            outcome.tasks[name] = self._task(task, outputs, outcome)
            failed = failed or outcome.tasks[name] == "Failed"
        if failed:
            outcome.phase = "Failed"
        exit_template = self.spec.get("onExit")
        if exit_template:
            context = {**self.globals, "workflow.status": outcome.phase}
            rc, _ = self._template(exit_template, {}, context, "onExit", outcome)
            outcome.exit_rc = rc
            if rc != 0:
                outcome.phase = "Failed"
        return outcome

    def _depends(self, task: Mapping[str, Any], by_name: Mapping[str, Any]) -> list[str]:
        if "dependencies" in task:
            names = list(task["dependencies"])
        elif "depends" in task:
            if not _DEPENDS.fullmatch(task["depends"].strip()):
                raise HarnessError(f"task {task['name']}: depends {task['depends']!r} is not 'a && b'")
            names = [n.strip() for n in task["depends"].split("&&")]
        else:
            names = []
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise HarnessError(f"task {task['name']} depends on unknown tasks {unknown}")
        return names

    def _task(self, task: Mapping[str, Any], outputs: dict[str, str], outcome: Outcome) -> str:
        context = {**self.globals, **outputs}
        if "withItems" in task or "withParam" in task:
            raise HarnessError(f"task {task['name']}: shipyard exports loop over withSequence only")
        if "when" in task and not _when(_resolve(task["when"], context)):
            return "Skipped"
        items: list[str | None] = [None]
        if "withSequence" in task:
            sequence = task["withSequence"]
            if set(sequence) != {"count"}:
                raise HarnessError(f"task {task['name']}: withSequence with {sorted(sequence)}")
            items = [str(i) for i in range(int(_resolve(str(sequence["count"]), context)))]
            if not items:
                return "Skipped"
        status = "Succeeded"
        for item in items:
            scope = context if item is None else {**context, "item": item}
            args = {
                p["name"]: _resolve(str(p["value"]), scope)
                for p in task.get("arguments", {}).get("parameters", [])
            }
            rc, produced = self._template(task["template"], args, self.globals, task["name"], outcome)
            if rc != 0:
                status = "Failed"
            elif item is None:
                for key, value in produced.items():
                    outputs[f"tasks.{task['name']}.outputs.parameters.{key}"] = value
        return status

    # ---- one template: a container, retried -----------------------------------------------------
    def _template(
        self, name: str, args: Mapping[str, str], context: Mapping[str, str], task: str, outcome: Outcome
    ) -> tuple[int, dict[str, str]]:
        template = self.templates[name]
        if "container" not in template:
            raise HarnessError(f"template {name}: only container templates run in a pod")
        scope = dict(context)
        for param in template.get("inputs", {}).get("parameters", []):
            if param["name"] in args:
                scope[f"inputs.parameters.{param['name']}"] = args[param["name"]]
            elif "value" in param:
                scope[f"inputs.parameters.{param['name']}"] = str(param["value"])
            else:
                raise HarnessError(f"template {name}: no value for input parameter {param['name']!r}")
        container = _resolve_all(copy.deepcopy(template["container"]), scope)
        retry = template.get("retryStrategy") or {}
        policy = retry.get("retryPolicy", "OnFailure")
        attempts = 1 + (int(retry.get("limit", 0)) if policy in {"Always", "OnFailure"} else 0)
        deadline = template.get("activeDeadlineSeconds")
        rc, produced = 1, {}
        for attempt in range(1, attempts + 1):
            rc, produced, stderr = self._pod(template, container, float(deadline) if deadline else None)
            outcome.pods.append(Pod(task, name, list(container["command"]), rc, attempt, stderr))
            if rc == 0:
                break
        return rc, produced

    def _pod(
        self, template: Mapping[str, Any], container: Mapping[str, Any], deadline: float | None
    ) -> tuple[int, dict[str, str], str]:
        self._pods += 1
        folder = self.workdir / f"pod-{self._pods}"
        folder.mkdir(parents=True)
        try:
            env = self._env(container)
        except KeyError as exc:  # CreateContainerConfigError: the pod never starts
            return 1, {}, f"pod not started: {exc}"
        argv = list(container["command"]) + list(container.get("args", []))
        files: dict[str, Path] = {}
        for param in template.get("outputs", {}).get("parameters", []):
            path = param["valueFrom"]["path"]
            files[param["name"]] = folder / Path(path).name
            argv = [str(files[param["name"]]) if a == path else a for a in argv]
        if self.in_process:
            rc, stderr = _call_in_process(argv, env)
        else:
            rc, stderr = _call_process(argv, env, deadline)
        produced: dict[str, str] = {}
        if rc == 0:
            for key, path in files.items():
                if not path.exists():  # Argo fails a node whose output file is missing
                    return 1, {}, f"output parameter {key}: {path.name} was not written"
                produced[key] = path.read_text().strip()
        return rc, produced, stderr

    def _env(self, container: Mapping[str, Any]) -> dict[str, str]:
        env = dict(self.base_env)
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                env.update(self._lookup(self.secrets, "Secret", source["secretRef"]["name"]))
            elif "configMapRef" in source:
                env.update(self._lookup(self.config_maps, "ConfigMap", source["configMapRef"]["name"]))
            else:
                raise HarnessError(f"envFrom {source}: only secretRef and configMapRef")
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = str(item["value"])
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                data = self._lookup(self.secrets, "Secret", ref["name"])
                if ref["key"] not in data:
                    raise KeyError(f"Secret {ref['name']} has no key {ref['key']}")
                env[item["name"]] = data[ref["key"]]
        return env

    @staticmethod
    def _lookup(store: Mapping[str, Mapping[str, str]], kind: str, name: str) -> Mapping[str, str]:
        if name not in store:
            raise KeyError(f"{kind} {name} does not exist")
        return store[name]


# ---- running a command ---------------------------------------------------------------------------
def _call_process(argv: list[str], env: Mapping[str, str], deadline: float | None) -> tuple[int, str]:
    if argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    try:
        done = subprocess.run(
            argv, env=dict(env), capture_output=True, text=True, timeout=deadline, check=False
        )
    except subprocess.TimeoutExpired:
        return 137, "activeDeadlineSeconds exceeded"
    return done.returncode, done.stderr


def _call_in_process(argv: list[str], env: Mapping[str, str]) -> tuple[int, str]:
    from shipyard.runtime import orchestrated

    if argv[: len(ENTRY)] != ENTRY:
        raise HarnessError(f"in process, only {' '.join(ENTRY)} runs; got {argv[:3]}")
    err = io.StringIO()
    with _environ(env), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            rc = orchestrated.main(argv[len(ENTRY) :])
        except SystemExit as exc:  # argparse: a usage error
            rc = exc.code if isinstance(exc.code, int) else 2
        except Exception:  # a crash is a failed container, with its traceback
            traceback.print_exc()
            rc = 1
    return rc, err.getvalue()


@contextlib.contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    """The container's environment: the test process's own, less every SHIPYARD_* variable, plus
    what the container sets."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({k: v for k, v in saved.items() if not k.startswith("SHIPYARD_")})
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ---- expressions -----------------------------------------------------------------------------------
def _resolve(text: str, scope: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in scope:
            raise HarnessError(f"{{{{{key}}}}} is not defined here (known: {sorted(scope)})")
        return scope[key]

    return _VAR.sub(one, text)


def _resolve_all(value: Any, scope: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _resolve(value, scope)
    if isinstance(value, list):
        return [_resolve_all(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_all(v, scope) for k, v in value.items()}
    return value


def _when(expression: str) -> bool:
    match = _WHEN.fullmatch(expression)
    if match is None:
        raise HarnessError(f"when {expression!r} is not 'INT OP INT'")
    a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
    return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b, "==": a == b, "!=": a != b}[op]
