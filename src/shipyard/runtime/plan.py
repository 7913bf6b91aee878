"""A run's plan: which nodes are done, which tasks exist, and expanding nodes as inputs arrive.

Nodes expand when every upstream node has finished: a guard that is false or a skipped input
skips the node (one SKIPPED task row), a ``pick`` node resolves to its first non-skipped choice,
a mapped node becomes one task per item of its source (known only now). Before a task is
dispatched it may be satisfied from the origin run (``resume``: REUSED) or the cache (CACHED).
Task rows are created in one batch per expansion, with their lineage.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.clock import utcnow
from shipyard.core.entities import ArtifactRecord, LineageEdge, Task, TaskStatus
from shipyard.core.errors import FlowError
from shipyard.core.ids import new_id
from shipyard.flows.graph import ConstInput, Graph, Node, RefInput
from shipyard.runtime.artifacts_io import InputLoader
from shipyard.runtime.origin import OriginIndex
from shipyard.runtime.stores import RunStores
from shipyard.runtime.tree import key_for, leaves, set_at


@dataclass
class Slot:
    """One task of the run, as the scheduler tracks it."""

    task_id: str
    key: str
    node: str
    path: tuple[int, ...]
    opts: dict[str, Any]
    attempt: int = 1
    status: TaskStatus = TaskStatus.PENDING
    error: str | None = None


@dataclass
class NodeState:
    node: Node
    state: str = "waiting"  # waiting | running | done | skipped | failed
    value: Any = None  # artifact ref tree once done
    open_tasks: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # task status -> n (progress)


def _digest_tree(entry: dict[str, Any]) -> Any:
    if "const" in entry:
        return {"const": entry["const"]}
    if "art" in entry:
        return {"d": entry["art"]["digest"], "s": entry.get("select", [])}

    def walk(tree: Any) -> Any:
        return [walk(t) for t in tree] if isinstance(tree, list) else tree["digest"]

    return {"g": walk(entry["gather"])}


def input_key(inputs: dict[str, dict[str, Any]]) -> str:
    canon = {name: _digest_tree(e) for name, e in sorted(inputs.items())}
    return hashlib.sha256(json.dumps(canon, sort_keys=True, default=str).encode()).hexdigest()


class RunPlan:
    def __init__(
        self,
        graph: Graph,
        stores: RunStores,
        run_id: str,
        namespace: str,
        origin: OriginIndex | None = None,
    ) -> None:
        self.graph = graph
        self.stores = stores
        self.run_id = run_id
        self.namespace = namespace
        self.origin = origin
        self.nodes = {name: NodeState(graph.nodes[name]) for name in graph.topological_order()}
        self.slots: dict[str, Slot] = {}
        self.failed: tuple[str, str] | None = None  # (task key, error)
        self._loader = InputLoader()

    # ---- queries -----------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return all(ns.state in ("done", "skipped", "failed") for ns in self.nodes.values())

    def _load(self, ref: dict[str, Any], name: str) -> Any:
        return self._loader.load(self.stores.artifacts, ref, name, keep=True)

    # ---- expansion ---------------------------------------------------------------------------
    def advance(self) -> list[Slot]:
        """Expand every node whose upstream finished; returns new tasks to dispatch."""
        to_run: list[Slot] = []
        progressed = True
        while progressed and self.failed is None:
            progressed = False
            new_tasks: list[Task] = []
            edges: list[LineageEdge] = []
            records: list[ArtifactRecord] = []
            for ns in self.nodes.values():
                if ns.state != "waiting":
                    continue
                ups = [self.nodes[u] for u in ns.node.upstream]
                if any(u.state in ("waiting", "running") for u in ups):
                    continue
                if any(u.state == "failed" for u in ups):
                    continue
                progressed = True
                to_run += self._expand(ns, new_tasks, edges, records)
            if new_tasks:
                self.stores.metadata.create_tasks(new_tasks)
            for rec in records:
                self.stores.metadata.record_artifact(rec)
            if edges:
                self.stores.metadata.record_lineage(edges)
        return to_run

    def _skip_reason(self, ns: NodeState) -> str | None:
        for g in ns.node.guards:
            gs = self.nodes[g.node]
            if gs.state == "skipped":
                return f"condition {g.node!r} was skipped"
            if bool(self._load(gs.value, g.node)) is not g.expect:
                return f"condition {g.node!r} is {not g.expect}"
        for up in ns.node.inputs.values():
            if isinstance(up, RefInput) and self.nodes[up.node].state == "skipped":
                return f"input {up.node!r} was skipped"
        return None

    def _expand(
        self, ns: NodeState, new: list[Task], edges: list[LineageEdge], recs: list[ArtifactRecord]
    ) -> list[Slot]:
        node = ns.node
        reason = self._skip_reason(ns)
        if node.kind == "pick":
            chosen = next((self.nodes[c] for c in node.choices if self.nodes[c].state == "done"), None)
            if reason is None and chosen is not None:
                ns.state, ns.value = "done", chosen.value
            else:
                ns.state = "skipped"
            return []
        if reason is not None:
            ns.state = "skipped"
            ns.counts["skipped"] = 1
            new.append(self._task_row(node, (), {}, status=TaskStatus.SKIPPED, error=f"skipped: {reason}"))
            return []
        try:
            items, template = self._items(node)
        except FlowError as exc:
            ns.state = "failed"
            ns.counts["failed"] = 1
            new.append(self._task_row(node, (), {}, status=TaskStatus.FAILED, error=str(exc)))
            self.failed = (node.name, str(exc))
            return []
        common = {name: self._entry(inp) for name, inp in node.inputs.items() if name != node.map_arg}
        ns.value = template
        ns.state = "running"
        to_run: list[Slot] = []
        for path, item_entry in items:
            inputs = dict(common)
            if node.map_arg is not None:
                inputs[node.map_arg] = item_entry
            to_run += self._add_task(ns, path, inputs, new=new, edges=edges, recs=recs)
        if ns.open_tasks == 0:
            ns.state = "done"
        return to_run

    def _entry(self, inp: RefInput | ConstInput) -> dict[str, Any]:
        if isinstance(inp, ConstInput):
            return {"const": inp.value}
        up = self.nodes[inp.node]
        return {"gather": up.value} if up.node.depth else {"art": up.value}

    def _items(self, node: Node) -> tuple[list[tuple[tuple[int, ...], dict[str, Any]]], Any]:
        """(path, input entry for the mapped argument) per task, and the value template."""
        if node.map_arg is None:
            return [((), {})], None
        source = node.inputs[node.map_arg]
        if isinstance(source, ConstInput):
            values = list(source.value)
            return [((i,), {"const": v}) for i, v in enumerate(values)], [None] * len(values)
        up = self.nodes[source.node]
        items: list[tuple[tuple[int, ...], dict[str, Any]]] = []
        template: Any = [] if up.node.depth == 0 else _copy_tree(up.value)
        for path, ref in leaves(up.value, up.node.depth):
            value = self._load(ref, key_for(source.node, path))
            if isinstance(value, str | bytes | dict) or not hasattr(value, "__len__"):
                raise FlowError(
                    f"step {node.name!r} maps over the output of {key_for(source.node, path)!r}, "
                    f"which is a {type(value).__name__}, not a list"
                )
            n = len(value)
            items += [((*path, j), {"art": ref, "select": [j]}) for j in range(n)]
            template = set_at(template, path, [None] * n) if path else [None] * n
        return items, template

    def _add_task(
        self,
        ns: NodeState,
        path: tuple[int, ...],
        inputs: dict[str, dict[str, Any]],
        *,
        new: list[Task],
        edges: list[LineageEdge],
        recs: list[ArtifactRecord],
    ) -> list[Slot]:
        node = ns.node
        ikey = input_key(inputs)
        cache_key = (
            hashlib.sha256(f"{node.code_hash}:{ikey}".encode()).hexdigest()
            if node.opts.get("cache")
            else None
        )
        key = key_for(node.name, path)
        reused = self.origin.lookup(key, ikey) if self.origin is not None else None
        status, source, out = TaskStatus.PENDING, None, None
        if reused is not None:
            status, source, out = TaskStatus.REUSED, reused[0].id, reused[1]
        elif cache_key is not None:
            hit = self.stores.metadata.find_cached_task(self.namespace, node.name, cache_key)
            if hit is not None:
                found = [
                    a for a in self.stores.metadata.list_artifacts(hit.run_id, hit.id) if a.name == "output"
                ]
                if found:
                    status, source = TaskStatus.CACHED, hit.id
                    out = {"id": found[0].id, **_ref_fields(found[0])}
        row = self._task_row(
            node, path, inputs, status=status, reused_from=source, cache_key=cache_key, ikey=ikey
        )
        new.append(row)
        edges += _lineage(row.id, inputs)
        if out is not None:
            rec = ArtifactRecord(
                id=new_id(),
                run_id=self.run_id,
                name="output",
                digest=out["digest"],
                size=int(out["size"]),
                serializer=out["serializer"],
                created_at=utcnow(),
                task_id=row.id,
                unsafe=bool(out.get("unsafe", False)),
                meta=dict(out.get("meta") or {}),
            )
            recs.append(rec)
            ns.value = set_at(ns.value, path, {**out, "id": rec.id})
            ns.counts[status.value] = ns.counts.get(status.value, 0) + 1
            return []
        slot = Slot(task_id=row.id, key=key, node=node.name, path=path, opts=node.opts)
        self.slots[row.id] = slot
        ns.open_tasks += 1
        ns.counts["pending"] = ns.counts.get("pending", 0) + 1
        return [slot]

    def _task_row(
        self,
        node: Node,
        path: tuple[int, ...],
        inputs: dict[str, dict[str, Any]],
        *,
        status: TaskStatus,
        error: str | None = None,
        reused_from: str | None = None,
        cache_key: str | None = None,
        ikey: str | None = None,
    ) -> Task:
        now = utcnow()
        done = status is not TaskStatus.PENDING
        return Task(
            id=new_id(),
            run_id=self.run_id,
            step=node.name,
            key=key_for(node.name, path),
            index=path[-1] if path else None,
            status=status,
            attempts=0,
            started_at=now if done else None,
            ended_at=now if done else None,
            error=error,
            cache_key=cache_key,
            reused_from=reused_from,
            spec={
                "node": node.name,
                "target": node.target,
                "path": list(path),
                "inputs": inputs,
                "input_key": ikey,
                "opts": node.opts,
            },
        )

    # ---- outcomes --------------------------------------------------------------------------------
    def task_succeeded(self, slot: Slot, output: dict[str, Any]) -> None:
        ns = self.nodes[slot.node]
        slot.status = TaskStatus.SUCCEEDED
        ns.value = set_at(ns.value, slot.path, output)
        ns.open_tasks -= 1
        self._count(ns, "pending", "succeeded")
        if ns.open_tasks == 0 and ns.state == "running":
            ns.state = "done"

    def task_failed(self, slot: Slot, error: str) -> None:
        ns = self.nodes[slot.node]
        slot.status, slot.error = TaskStatus.FAILED, error
        ns.open_tasks -= 1
        ns.state = "failed"
        self._count(ns, "pending", "failed")
        if self.failed is None:
            self.failed = (slot.key, error)

    def task_cancelled(self, slot: Slot) -> None:
        ns = self.nodes[slot.node]
        slot.status = TaskStatus.CANCELLED
        self._count(ns, "pending", "cancelled")

    def _count(self, ns: NodeState, old: str, new: str) -> None:
        ns.counts[old] = ns.counts.get(old, 0) - 1
        ns.counts[new] = ns.counts.get(new, 0) + 1

    def output_tree(self) -> tuple[Any, int] | None:
        """The flow output's ref tree and its depth, or None (no output / skipped)."""
        out = self.graph.output
        if not isinstance(out, RefInput):
            return None
        ns = self.nodes[out.node]
        if ns.state != "done":
            return None
        return ns.value, ns.node.depth


def _ref_fields(rec: ArtifactRecord) -> dict[str, Any]:
    return {
        "digest": rec.digest,
        "size": rec.size,
        "serializer": rec.serializer,
        "unsafe": rec.unsafe,
        "meta": rec.meta,
    }


def _copy_tree(tree: Any) -> Any:
    return [_copy_tree(t) for t in tree] if isinstance(tree, list) else None


def _lineage(task_id: str, inputs: dict[str, dict[str, Any]]) -> list[LineageEdge]:
    edges: list[LineageEdge] = []
    for name, entry in inputs.items():
        if "art" in entry:
            edges.append(LineageEdge(task_id, entry["art"]["id"], name))
        elif "gather" in entry:
            for path, ref in leaves(entry["gather"], _depth(entry["gather"])):
                edges.append(LineageEdge(task_id, ref["id"], key_for(name, path)))
    return edges


def _depth(tree: Any) -> int:
    depth = 0
    while isinstance(tree, list):
        depth += 1
        if not tree:
            break
        tree = tree[0]
    return depth
