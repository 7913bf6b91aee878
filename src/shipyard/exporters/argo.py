"""Argo Workflows: a flow as a WorkflowTemplate (or, with a schedule, a CronWorkflow) whose every
container runs one orchestrated-run command (:mod:`shipyard.runtime.orchestrated`, argv from
:mod:`shipyard.exporters.commands`). The YAML is what Argo CD syncs; nothing here talks to a cluster.

One DAG template, ``main``, with the run key ``{{workflow.uid}}``::

    start                                   create the run (its id derived from the key)
    expand-X    depends: run-U for X's inputs U (else start)
                                            create X's tasks; output parameter chunks (a count)
    run-X       depends: expand-X, when: chunks > 0, withSequence: count = chunks
                                            run chunk {{item}} of X's tasks
    finish      the exit handler (onExit)   record the output; SUCCEEDED or FAILED

Fan-out, joins, nested fan-outs and per-item conditions are all the same two tasks: item lists and
task ids stay in the artifact store, the workflow only loops over ``range(chunks)``, so the spec has
the same size at any width (Argo's ``withParam`` would carry every item through a 256 KB output
parameter). A step whose condition is false, or whose fan-out is empty, has 0 chunks: its ``run-X``
is Skipped and what follows still runs (``depends`` on a skipped task is met). A loop's body is one
chunk driving every iteration. Each step has its own ``run-X`` template: the step's image
(``@step(image=...)``, else ``--image``), resources, retries (``retryStrategy``: the step's retries,
backoff from its retry_delay doubling), timeout (``activeDeadlineSeconds``: the step's timeout times
the chunk size), node selector and tolerations (``@step(kubernetes=...)``) and secrets (variables
from keys of one Kubernetes Secret). The store configuration (``SHIPYARD_URI``,
``SHIPYARD_ARTIFACTS``, AWS credentials...) comes into every container from a Secret and/or
ConfigMap by ``envFrom``.

Params are fixed at export (they shape the graph: widths of constant lists, plain ``if``s); the
``start`` command carries them with the graph's digest, and refuses to start a flow file that no
longer builds that graph. Export again to change them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import FlowError
from shipyard.exporters import commands
from shipyard.exporters.commands import FlowRef
from shipyard.exporters.k8s import (
    check_resource_name,
    dns_label,
    env_from,
    labels_for,
    placement,
    resources,
    secret_env,
)
from shipyard.flows.graph import Graph, Node
from shipyard.runtime.orchestrated import MAX_CHUNK, exported_steps, graph_digest

API_VERSION = "argoproj.io/v1alpha1"
RUN_KEY = "{{workflow.uid}}"
CHUNKS_FILE = "/tmp/shipyard-chunks"  # noqa: S108 (inside the pod; Argo reads the output parameter there)
NAME_MAX = 52  # a CronWorkflow's name is suffixed with a timestamp
_CONTROL_RETRY = {"limit": "2", "retryPolicy": "Always", "backoff": {"duration": "5s", "factor": "2"}}
_CRON = re.compile(r"@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every \S+|[^\s]+(\s+[^\s]+){4}")


@dataclass(frozen=True)
class ArgoOptions:
    """How to export: the default image, naming, chunking, schedule and where configuration lives."""

    image: str
    name: str | None = None  # metadata.name; default: the flow's name
    namespace: str | None = None
    chunk: int = 1  # tasks per pod: raise it for fan-outs of thousands of short tasks
    schedule: str | None = None  # a cron expression: a CronWorkflow
    timezone: str | None = None
    env_secret: str | None = "shipyard-env"  # noqa: S105 (a Secret's name: envFrom, the store configuration)
    env_config_map: str | None = None
    secrets_secret: str = "shipyard-secrets"  # noqa: S105 (a Secret's name: a key per step secret)
    service_account: str | None = None
    parallelism: int | None = None

    def check(self) -> None:
        if not self.image or any(c.isspace() for c in self.image):
            raise FlowError(f"--image {self.image!r} is not an image reference, e.g. registry/fraud:1.2")
        if not 1 <= self.chunk <= MAX_CHUNK:
            raise FlowError(f"--chunk must be between 1 and {MAX_CHUNK}, got {self.chunk}")
        if self.parallelism is not None and self.parallelism < 1:
            raise FlowError(f"--parallelism must be 1 or more, got {self.parallelism}")
        if self.schedule is not None and not _CRON.fullmatch(self.schedule.strip()):
            raise FlowError(
                f"--schedule {self.schedule!r} is not a cron expression: five fields like '0 * * * *', "
                "or @hourly, @daily, @every 30m"
            )
        if self.name is not None and (len(self.name) > NAME_MAX or dns_label(self.name) != self.name):
            raise FlowError(
                f"--name {self.name!r} must be lower-case letters, digits and '-' (at most {NAME_MAX})"
            )
        for what, value in (
            ("--namespace", self.namespace),
            ("--env-secret", self.env_secret),
            ("--env-config-map", self.env_config_map),
            ("--secrets-secret", self.secrets_secret),
            ("--service-account", self.service_account),
        ):
            if value is not None:
                check_resource_name(value, what)


def export(flow: FlowRef, options: ArgoOptions) -> dict[str, Any]:
    """The WorkflowTemplate (CronWorkflow with ``options.schedule``) as a plain dict."""
    options.check()
    name = options.name or dns_label(flow.name, NAME_MAX)
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {"shipyard/flow": dns_label(flow.name)},
        "annotations": {"shipyard/flow-file": flow.path, "shipyard/graph": graph_digest(flow.graph)},
    }
    if options.namespace:
        metadata["namespace"] = options.namespace
    spec = workflow_spec(flow, options)
    if options.schedule is None:
        return {"apiVersion": API_VERSION, "kind": "WorkflowTemplate", "metadata": metadata, "spec": spec}
    cron: dict[str, Any] = {"schedules": [options.schedule.strip()], "workflowSpec": spec}
    if options.timezone:
        cron["timezone"] = options.timezone
    return {"apiVersion": API_VERSION, "kind": "CronWorkflow", "metadata": metadata, "spec": cron}


def to_yaml(doc: Mapping[str, Any], source: str = "") -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # shared pieces written out, no &anchors
            return True

    header = f"# generated by `shipyard export argo {source}`; export again instead of editing\n"
    body = yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
    return header + body


def workflow_spec(flow: FlowRef, options: ArgoOptions) -> dict[str, Any]:
    graph = flow.graph
    steps = flow.steps
    label = labels_for(steps, 100)  # "expand-" + label stays within Argo's 128
    tasks: list[dict[str, Any]] = [{"name": "start", "template": "start"}]
    expand_for: dict[str, str] = {options.image: "expand"}
    templates: list[dict[str, Any]] = []
    for node in steps:
        n = label[node]
        image = str(graph.nodes[node].opts.get("image") or options.image)
        if image not in expand_for:  # the step's inputs are read where its own code is
            expand_for[image] = f"expand-{n}"
            templates.append(_expand_template(expand_for[image], image, options))
        ups = upstream_steps(graph, node)
        tasks.append(
            {
                "name": f"expand-{n}",
                "template": expand_for[image],
                "depends": " && ".join(f"run-{label[u]}" for u in ups) or "start",
                "arguments": {"parameters": [{"name": "step", "value": node}]},
            }
        )
        chunks = f"{{{{tasks.expand-{n}.outputs.parameters.chunks}}}}"
        tasks.append(
            {
                "name": f"run-{n}",
                "template": f"run-{n}",
                "depends": f"expand-{n}",
                "when": f"{chunks} > 0",
                "withSequence": {"count": chunks},
                "arguments": {"parameters": [{"name": "index", "value": "{{item}}"}]},
            }
        )
        templates.append(_run_template(f"run-{n}", graph, node, image, options))
    control = [
        {"name": "main", "dag": {"tasks": tasks}},
        _control("start", commands.start(flow, RUN_KEY, "argo"), options, _CONTROL_RETRY),
        _expand_template("expand", options.image, options),
        _control("finish", commands.finish(RUN_KEY), options, {**_CONTROL_RETRY, "retryPolicy": "OnError"}),
    ]
    spec: dict[str, Any] = {"entrypoint": "main", "onExit": "finish", "templates": control + templates}
    if options.service_account:
        spec["serviceAccountName"] = options.service_account
    if options.parallelism:
        spec["parallelism"] = options.parallelism
    return spec


def upstream_steps(graph: Graph, node: str) -> list[str]:
    """The exported steps ``node`` waits for: its upstream, seen through picks and loop checks."""
    exported = set(exported_steps(graph))
    found: list[str] = []
    todo, seen = list(graph.nodes[node].upstream), set()
    while todo:
        up = todo.pop(0)
        if up in seen:
            continue
        seen.add(up)
        if up in exported:
            found.append(up)
        else:
            todo += graph.nodes[up].upstream
    return found


def _container(
    image: str,
    argv: list[str],
    options: ArgoOptions,
    env: list[dict[str, Any]] | None = None,
    limits: dict[str, Any] | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {"image": image, "command": argv}
    if env:
        container["env"] = env
    sources = env_from(options.env_secret, options.env_config_map)
    if sources:
        container["envFrom"] = sources
    if limits:
        container["resources"] = limits
    return container


def _control(name: str, argv: list[str], options: ArgoOptions, retry: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "container": _container(options.image, argv, options), "retryStrategy": retry}


def _expand_template(name: str, image: str, options: ArgoOptions) -> dict[str, Any]:
    argv = commands.expand(RUN_KEY, "{{inputs.parameters.step}}", options.chunk, CHUNKS_FILE)
    return {
        "name": name,
        "inputs": {"parameters": [{"name": "step"}]},
        "container": _container(image, argv, options),
        "outputs": {"parameters": [{"name": "chunks", "valueFrom": {"path": CHUNKS_FILE}}]},
        "retryStrategy": _CONTROL_RETRY,
    }


def _run_template(name: str, graph: Graph, node: str, image: str, options: ArgoOptions) -> dict[str, Any]:
    step = graph.nodes[node]
    # a loop's body is one command that also runs its check: the pod needs what both need
    parts = [step] + ([graph.nodes[step.loop.until]] if step.loop else [])
    secrets = list(dict.fromkeys(s for p in parts for s in p.opts.get("secrets", [])))
    argv = commands.run(RUN_KEY, node, "{{inputs.parameters.index}}", options.chunk)
    template: dict[str, Any] = {
        "name": name,
        "inputs": {"parameters": [{"name": "index"}]},
        "container": _container(
            image, argv, options, secret_env(secrets, options.secrets_secret), resources(_largest(parts))
        ),
        **placement(step.opts.get("kubernetes")),
    }
    retries = int(step.opts.get("retries") or 0)
    if retries:
        delay = float(step.opts.get("retry_delay", 1.0))
        template["retryStrategy"] = {
            "limit": str(retries),
            "retryPolicy": "Always",
            "backoff": {"duration": f"{delay:g}s", "factor": "2"},
        }
    deadline = _deadline(step, parts, options.chunk)
    if deadline is not None:
        template["activeDeadlineSeconds"] = str(deadline)
    return template


def _largest(parts: list[Node]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in (part.opts.get("resources") or {}).items():
            out[key] = max(out.get(key, 0), value)
    return out


def _deadline(step: Node, parts: list[Node], chunk: int) -> int | None:
    """Seconds one pod may take: the step's timeout per task of its chunk; a loop's pod, every
    iteration of its body and check (none unless both have a timeout)."""
    timeouts = [p.opts.get("timeout") for p in parts]
    if any(t is None for t in timeouts):
        return None
    if step.loop is not None:
        return math.ceil(sum(float(t) for t in timeouts if t is not None) * step.loop.max_iterations)
    return math.ceil(float(timeouts[0] or 0) * chunk)
