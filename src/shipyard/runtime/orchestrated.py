"""Runs driven by an external orchestrator (Argo Workflows, Airflow): four idempotent commands
an exported workflow calls, in the graph's order, around the one task entry point.

    python -m shipyard.runtime.orchestrated start  --run-key K --orchestrator argo FLOW.py [-p name=value]
    python -m shipyard.runtime.orchestrated expand --run-key K NODE [--chunk C] [--out FILE]
    python -m shipyard.runtime.orchestrated run    --run-key K NODE INDEX [--chunk C]
    python -m shipyard.runtime.orchestrated finish --run-key K

The run id is derived from ``--run-key`` (the workflow's uid, Airflow's dag and run id), so no id
travels between tasks and a retried command finds what an earlier attempt did. No process keeps a
plan in memory: each command rebuilds the run's plan from its recorded task rows
(:class:`~shipyard.runtime.origin.Recorded`; a recorded task keeps its id and is never written
twice) and then expands only the node it was asked for.

- ``expand NODE`` creates NODE's task rows once its upstream finished (a false condition: one
  SKIPPED row; cached tasks: CACHED rows) and stores the ids of the tasks left to run, in order, as
  the run's artifact ``orchestrator/NODE``; it prints ``{"tasks": n, "chunks": k}``. The workflow
  loops over ``range(k)``: item lists and task ids stay in the artifact store, never in workflow
  parameters, so the spec and its parameters stay small at any width.
- ``run NODE I`` runs tasks ``I*C .. I*C+C-1`` of that list through
  :func:`~shipyard.runtime.task_entry.run_task` (the orchestrator retries a failed command: the
  next attempt of the same task). A loop's body runs as one command that drives the loop's
  iterations in order (``body@k``, ``until@k``) until it ends.
- ``finish`` records the flow's output and ends the run: SUCCEEDED, or FAILED naming the failed
  task (the workflow runs it whatever happened: Argo's exit handler, Airflow's ``all_done``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.clock import utcnow
from shipyard.core.entities import ORCHESTRATOR_TAG, Run, RunStatus, TaskStatus
from shipyard.core.errors import FlowError, NotFoundError, ShipyardError
from shipyard.core.settings import Settings, load_settings
from shipyard.flows.graph import Graph
from shipyard.runtime.artifacts_io import ref_to_stored
from shipyard.runtime.loader import load_flow, start_code_version
from shipyard.runtime.origin import EXPANDED_PREFIX, Recorded
from shipyard.runtime.plan import RunPlan
from shipyard.runtime.plan_state import Slot
from shipyard.runtime.scheduler import record_output
from shipyard.runtime.stores import RunStores, open_run_stores

MAX_CHUNK = 100_000


def run_id_for(run_key: str) -> str:
    """The run id an orchestrated run gets from its key (32 hex characters, like every id)."""
    if not run_key or len(run_key) > 1000:
        raise FlowError("--run-key must be 1 to 1000 characters, e.g. the workflow's uid")
    return hashlib.sha256(f"shipyard-run:{run_key}".encode()).hexdigest()[:32]


def graph_digest(graph: Graph) -> str:
    """What an exported workflow was built from: the nodes, their wiring and options."""
    nodes = {name: node.to_dict() for name, node in graph.nodes.items()}
    return hashlib.sha256(json.dumps(nodes, sort_keys=True, default=str).encode()).hexdigest()


def exported_steps(graph: Graph) -> list[str]:
    """The nodes a workflow runs commands for, in order: steps, not picks (resolved by the plan)
    and not a loop's check (driven with its body)."""
    return [
        n for n in graph.topological_order() if graph.nodes[n].kind == "step" and not graph.nodes[n].loop_of
    ]


# ---- start -------------------------------------------------------------------------------------
def start(  # noqa: PLR0917 (the command's arguments)
    stores: RunStores,
    flow_file: Path,
    params: Mapping[str, Any],
    run_key: str,
    orchestrator: str,
    flow_name: str | None = None,
    expect_graph: str | None = None,
    code_package: str | None = None,
) -> str:
    """Create the run (once: a retried start finds it); returns its id. With ``code_package`` (a
    digest), ``flow_file`` is the flow's path inside that package, fetched from the artifact store."""
    from shipyard.runtime.api import create_flow_run

    run_id = run_id_for(run_key)
    try:
        stores.metadata.get_run(run_id)
        return run_id
    except NotFoundError:
        pass
    root: Path | None = None
    if code_package is not None:
        root, flow_file = _from_package(stores, code_package, flow_file)
    loaded = load_flow(flow_file, flow_name)
    graph = loaded.flow.build(params)
    if expect_graph is not None and graph_digest(graph) != expect_graph:
        raise FlowError(
            f"flow {loaded.flow.name!r} in {flow_file} no longer builds the graph this workflow was "
            "exported from (steps, wiring or options changed); export the workflow again"
        )
    create_flow_run(
        stores,
        loaded,
        graph,
        start_code_version([loaded.path])(),
        run_id=run_id,
        tags={"shipyard.kind": "flow", ORCHESTRATOR_TAG: orchestrator, "shipyard.run_key": run_key[:500]},
        spec={"orchestrator": orchestrator},
        package_root=root,
    )
    return run_id


def _from_package(stores: RunStores, digest: str, flow_path: Path) -> tuple[Path, Path]:
    """The package's folder (materialized under ``<home>/code``, on ``sys.path`` so the project's
    modules import) and the flow file in it."""
    from shipyard.artifacts.unpack import check_name
    from shipyard.runtime.code_package import materialize

    name = flow_path.as_posix()
    check_name("the flow file in the code package", name)
    root = materialize(digest, stores.artifacts, stores.settings.home / "code")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return root, root / name


# ---- replay ------------------------------------------------------------------------------------
@dataclass
class Replayed:
    run: Run
    plan: RunPlan
    open: list[Slot]  # tasks recorded or created but not finished (pending, running, failed)


def replay(stores: RunStores, run_id: str, only: str | None = None) -> Replayed:
    """The run's plan rebuilt from its task rows, with ``only`` (a node) expanded if it is due."""
    run = stores.metadata.get_run(run_id)
    spec = run.flow_spec or {}
    if "graph" not in spec or "orchestrator" not in spec:
        raise FlowError(f"run {run_id} was not started by an orchestrator; use `shipyard resume`")
    graph = Graph.from_dict(spec["graph"])
    if only is not None and only not in graph.nodes:
        known = ", ".join(n for n in graph.nodes if graph.nodes[n].kind == "step")
        raise FlowError(f"flow {graph.flow_name!r} has no step {only!r}; its steps: {known}")
    recorded = Recorded.load(stores.metadata, run_id)
    plan = RunPlan(graph, stores, run_id, run.namespace, recorded=recorded, only=only)
    open_slots = plan.advance()
    return Replayed(run, plan, open_slots)


# ---- expand ------------------------------------------------------------------------------------
def _manifest_name(node: str) -> str:
    return EXPANDED_PREFIX + node


def expand(stores: RunStores, run_id: str, node: str, chunk: int = 1) -> dict[str, int]:
    """Create ``node``'s tasks (once) and store the ids left to run; ``{"tasks", "chunks"}``."""
    if not 1 <= chunk <= MAX_CHUNK:
        raise FlowError(f"--chunk must be between 1 and {MAX_CHUNK}, got {chunk}")
    ids = _manifest(stores, run_id, node)
    if ids is None:
        done = replay(stores, run_id, only=node)
        if done.plan.failed is not None:
            key, error = done.plan.failed
            raise FlowError(f"step {key} failed: {error}")
        state = done.plan.nodes[node]
        if state.state == "waiting":
            raise FlowError(f"step {node!r} is not ready: a step it depends on has not finished")
        graph_node = done.plan.graph.nodes[node]
        if graph_node.loop is not None:  # one command drives the loop
            ids = [node] if state.state == "running" else []
        else:
            ids = [s.task_id for s in done.open if s.node == node]
        stored = stores.artifacts.put_object(ids)
        stores.metadata.record_artifact(stored.record(run_id, _manifest_name(node)))
    return {"tasks": len(ids), "chunks": math.ceil(len(ids) / chunk)}


def _manifest(stores: RunStores, run_id: str, node: str) -> list[str] | None:
    try:
        rec = stores.metadata.find_artifact(run_id, _manifest_name(node))
    except NotFoundError:
        return None
    from shipyard.runtime.artifacts_io import record_to_ref

    value = stores.artifacts.get_object(ref_to_stored(record_to_ref(rec)), name=rec.name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FlowError(f"run {run_id}: the task list of step {node!r} is not a list of task ids")
    return value


# ---- run ---------------------------------------------------------------------------------------
def run(stores: RunStores, run_id: str, node: str, index: int, chunk: int = 1) -> list[str]:
    """Run chunk ``index`` of ``node``'s tasks; returns the errors (empty: every task succeeded)."""
    from shipyard.runtime.task_entry import run_task

    ids = _manifest(stores, run_id, node)
    if ids is None:
        raise FlowError(f"step {node!r} of run {run_id} was not expanded; run `expand {node}` first")
    if not 0 <= index < max(1, math.ceil(len(ids) / chunk)):
        raise FlowError(f"step {node!r} has {len(ids)} task(s) in chunks of {chunk}; no chunk {index}")
    errors: list[str] = []
    for task_id in ids[index * chunk : (index + 1) * chunk]:
        if task_id == node:
            errors += _drive_loop(stores, run_id, node)
            continue
        task = stores.metadata.get_task(task_id)
        if task.status is TaskStatus.SUCCEEDED:
            continue  # a retried chunk: this one is done
        result = run_task(run_id, task_id, stores.settings)
        if not result["ok"]:
            errors.append(f"{task.key}: {result['error']}")
    return errors


def _drive_loop(stores: RunStores, run_id: str, node: str) -> list[str]:
    from shipyard.runtime.task_entry import run_task

    while True:
        done = replay(stores, run_id, only=node)
        if done.plan.failed is not None:
            key, error = done.plan.failed
            return [f"{key}: {error}"]
        body = done.plan.graph.nodes[node]
        mine = [s for s in done.open if s.node in (node, body.loop.until if body.loop else node)]
        if not mine:
            return []
        for slot in mine:
            result = run_task(run_id, slot.task_id, stores.settings)
            if not result["ok"]:
                return [f"{slot.key}: {result['error']}"]


# ---- finish ------------------------------------------------------------------------------------
def finish(stores: RunStores, run_id: str) -> RunStatus:
    """End the run: SUCCEEDED with its output, or FAILED naming the failed or missing step."""
    md = stores.metadata
    current = md.get_run(run_id)
    if current.status.finished:
        return current.status
    done = replay(stores, run_id)
    error = _failure(done)
    if error is not None:
        md.finish_run(run_id, RunStatus.FAILED, utcnow(), error=error)
        return RunStatus.FAILED
    record_output(done.plan, stores)
    md.finish_run(run_id, RunStatus.SUCCEEDED, utcnow())
    return RunStatus.SUCCEEDED


def _failure(done: Replayed) -> str | None:
    if done.plan.failed is not None:
        key, error = done.plan.failed
        return f"step {key} failed: {error}"
    assert done.plan.recorded is not None
    recorded = done.plan.recorded.tasks
    for slot in done.open:
        task = recorded.get(slot.key)
        if task is not None and task.status is TaskStatus.FAILED:
            return f"step {slot.key} failed: {task.error or 'failed'}"
    if done.open:
        return f"step {done.open[0].key} did not run (the workflow stopped before it)"
    waiting = [n for n, s in done.plan.nodes.items() if s.state == "waiting"]
    if waiting:
        return f"step {waiting[0]} did not run (the workflow stopped before it)"
    return None


# ---- command line ------------------------------------------------------------------------------
def _params(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise FlowError(f"-p {pair!r}: write a parameter as name=value")
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shipyard.runtime.orchestrated")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start", help="create the run")
    p.add_argument("--run-key", required=True)
    p.add_argument("--orchestrator", required=True)
    p.add_argument("--flow-name")
    p.add_argument("--graph")
    p.add_argument("--code-package", help="the digest of the code package holding the flow file")
    p.add_argument("-p", "--param", action="append", default=[])
    p.add_argument("flow_file", type=Path)
    p = sub.add_parser("expand", help="create a step's tasks; print how many")
    p.add_argument("--run-key", required=True)
    p.add_argument("--chunk", type=int, default=1)
    p.add_argument("--out", type=Path)
    p.add_argument("node")
    p = sub.add_parser("run", help="run one chunk of a step's tasks")
    p.add_argument("--run-key", required=True)
    p.add_argument("--chunk", type=int, default=1)
    p.add_argument("node")
    p.add_argument("index", type=int)
    p = sub.add_parser("finish", help="record the output and end the run")
    p.add_argument("--run-key", required=True)
    return parser


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    args = _parser().parse_args(argv)
    stores = open_run_stores(settings or load_settings())
    try:
        return _dispatch(args, stores)
    except ShipyardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stores.close()


def _dispatch(args: argparse.Namespace, stores: RunStores) -> int:
    if args.command == "start":
        run_id = start(
            stores,
            args.flow_file,
            _params(args.param),
            args.run_key,
            args.orchestrator,
            args.flow_name,
            args.graph,
            args.code_package,
        )
        print(run_id)
        return 0
    run_id = run_id_for(args.run_key)
    if args.command == "expand":
        counts = expand(stores, run_id, args.node, args.chunk)
        text = json.dumps(counts)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(str(counts["chunks"]))
        print(text)
        return 0
    if args.command == "run":
        errors = run(stores, run_id, args.node, args.index, args.chunk)
        for error in errors:
            print(error, file=sys.stderr)
        return 1 if errors else 0
    status = finish(stores, run_id)
    print(status.value)
    return 0 if status is RunStatus.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
