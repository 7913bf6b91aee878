"""The command lines an exported workflow's tasks run: one place, so Argo and Airflow call the
same entry point the same way (:mod:`shipyard.runtime.orchestrated`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.flows.graph import Graph
from shipyard.runtime.orchestrated import exported_steps, graph_digest

ENTRY = ["python", "-m", "shipyard.runtime.orchestrated"]


@dataclass(frozen=True)
class FlowRef:
    """Which flow a workflow runs: its file (as the task's container sees it), its name, the
    params fixed at export and the graph built from them."""

    path: str
    name: str
    graph: Graph
    params: Mapping[str, Any] = field(default_factory=dict)
    package: str | None = None  # the code package's digest: ``path`` is then inside it
    triggers: tuple[str, ...] = ()  # the sources of its triggers (``dataset:NAME``...), for sensors

    @property
    def steps(self) -> list[str]:
        return exported_steps(self.graph)


def start(flow: FlowRef, run_key: str, orchestrator: str) -> list[str]:
    argv = [*ENTRY, "start", "--run-key", run_key, "--orchestrator", orchestrator]
    argv += ["--flow-name", flow.name, "--graph", graph_digest(flow.graph)]
    if flow.package is not None:
        argv += ["--code-package", flow.package]
    for name, value in sorted(flow.params.items()):
        argv += ["-p", f"{name}={json.dumps(value, sort_keys=True)}"]
    return [*argv, flow.path]


def expand(run_key: str, node: str, chunk: int, out: str | None = None) -> list[str]:
    argv = [*ENTRY, "expand", "--run-key", run_key, "--chunk", str(chunk)]
    return [*argv, *(["--out", out] if out else []), node]


def run(run_key: str, node: str, index: str, chunk: int) -> list[str]:
    return [*ENTRY, "run", "--run-key", run_key, "--chunk", str(chunk), node, index]


def finish(run_key: str) -> list[str]:
    return [*ENTRY, "finish", "--run-key", run_key]
