"""A run's plan: which nodes are done, which tasks exist, and expanding nodes as inputs arrive.

Nodes expand when every upstream node has finished: a guard that is false or a skipped input
skips the node (one SKIPPED task row), a ``pick`` node resolves to its first non-skipped choice,
a mapped node becomes one task per item of its source (known only now), a joining node one task
per outer item of its source. A guard on a mapped condition skips item by item (the item's leaf
becomes :data:`~shipyard.runtime.tree.SKIPPED_ITEM`; joins leave it out). A loop's body expands one
iteration at a time (``body@k``, then ``until@k`` on its output) until the check holds or
``max_iterations`` is reached. Before a task is dispatched it may be satisfied from the origin run
(``resume``: REUSED) or the cache (CACHED). Task rows are created in one batch per expansion, with
their lineage.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shipyard.core.clock import utcnow
from shipyard.core.entities import ArtifactRecord, LineageEdge, Task, TaskStatus
from shipyard.core.errors import FlowError
from shipyard.core.ids import new_id
from shipyard.flows.graph import ConstInput, Graph, Node, RefInput
from shipyard.runtime.artifacts_io import InputLoader
from shipyard.runtime.origin import OriginIndex, Recorded
from shipyard.runtime.plan_loops import LoopMixin
from shipyard.runtime.plan_state import NodeState, Slot
from shipyard.runtime.stores import RunStores
from shipyard.runtime.tree import (
    SKIPPED_ITEM,
    get_at,
    is_skipped,
    key_for,
    loop_key,
    prune,
    set_at,
    shape,
    walk,
)


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


class RunPlan(LoopMixin):
    def __init__(
        self,
        graph: Graph,
        stores: RunStores,
        run_id: str,
        namespace: str,
        origin: OriginIndex | None = None,
        *,
        recorded: Recorded | None = None,
        only: str | None = None,
    ) -> None:
        """``recorded``: rebuild an orchestrated run's plan from its task rows (a recorded task
        keeps its id and is not written again; one that finished gives its output). Then only
        nodes already recorded are replayed, and ``only`` (a node name) is expanded anew."""
        self.recorded = recorded
        self.only = only
        self.graph = graph
        self.stores = stores
        self.run_id = run_id
        self.namespace = namespace
        self.origin = origin
        self.nodes = {name: NodeState(graph.nodes[name]) for name in graph.topological_order()}
        self.slots: dict[str, Slot] = {}
        self.failed: tuple[str, str] | None = None  # (task key, error)
        self._loader = InputLoader()
        self._recorded_nodes = recorded.nodes if recorded is not None else set()

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
                if ns.loop is not None and ns.loop.ready and ns.state == "running":
                    progressed = True
                    to_run += self._loop_next(ns, new_tasks, edges, records)
                    continue
                if ns.state != "waiting" or ns.node.loop_of:
                    continue
                ups = [self.nodes[u] for u in ns.node.upstream]
                if any(u.state in ("waiting", "running") for u in ups):
                    continue
                if any(u.state == "failed" for u in ups):
                    continue
                if not self._may_expand(ns.node):
                    continue
                progressed = True
                to_run += self._expand(ns, new_tasks, edges, records)
            if self.recorded is not None:
                new_tasks, edges, records = self._unrecorded(new_tasks, edges, records)
            if new_tasks:
                self.stores.metadata.create_tasks(new_tasks)
            for rec in records:
                self.stores.metadata.record_artifact(rec)
            if edges:
                self.stores.metadata.record_lineage(edges)
        return to_run

    def _may_expand(self, node: Node) -> bool:
        if self.recorded is None or node.kind == "pick" or node.name == self.only:
            return True
        return node.name in self._recorded_nodes

    def _unrecorded(
        self, new: list[Task], edges: list[LineageEdge], recs: list[ArtifactRecord]
    ) -> tuple[list[Task], list[LineageEdge], list[ArtifactRecord]]:
        """What a replay must still write: rows (and their lineage and reused outputs) for keys the
        run has not recorded."""
        assert self.recorded is not None
        known = self.recorded.tasks
        fresh = [t for t in new if t.key not in known]
        ids = {t.id for t in fresh}
        return fresh, [e for e in edges if e.task_id in ids], [r for r in recs if r.task_id in ids]

    def _skip_reason(self, ns: NodeState) -> str | None:
        for g in ns.node.guards:
            gs = self.nodes[g.node]
            if gs.state == "skipped":
                return f"condition {g.node!r} was skipped"
            if g.depth:
                continue  # judged item by item
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
            self._pick(ns, reason)
            return []
        if reason is not None:
            ns.state = "skipped"
            ns.counts["skipped"] = 1
            new.append(self._task_row(node, (), {}, status=TaskStatus.SKIPPED, error=f"skipped: {reason}"))
            if node.loop is not None:
                self.nodes[node.loop.until].state = "skipped"
            return []
        try:
            items, template = self._items(node)
        except FlowError as exc:
            self._fail_node(ns, str(exc), new)
            return []
        common = {name: self._entry(inp) for name, inp in node.inputs.items() if name != node.fan_arg}
        ns.value = template
        ns.state = "running"
        if node.loop is not None:
            return self._start_loop(ns, common, new, edges, recs)
        to_run: list[Slot] = []
        for path, item_entry in items:
            skipped = "input item was skipped" if item_entry is None else self._item_skip_reason(node, path)
            if skipped is not None:
                ns.value = set_at(ns.value, path, dict(SKIPPED_ITEM))
                ns.counts["skipped"] = ns.counts.get("skipped", 0) + 1
                row = self._task_row(node, path, {}, status=TaskStatus.SKIPPED, error=f"skipped: {skipped}")
                new.append(row)
                continue
            inputs = dict(common)
            if node.fan_arg is not None:
                assert item_entry is not None
                inputs[node.fan_arg] = item_entry
            to_run += self._add_task(ns, path, inputs, new=new, edges=edges, recs=recs)
        if ns.open_tasks == 0:
            ns.state = "done"
        return to_run

    def _fail_node(self, ns: NodeState, error: str, new: list[Task]) -> None:
        ns.state = "failed"
        ns.counts["failed"] = ns.counts.get("failed", 0) + 1
        new.append(self._task_row(ns.node, (), {}, status=TaskStatus.FAILED, error=error))
        if self.failed is None:
            self.failed = (ns.node.name, error)

    def _item_skip_reason(self, node: Node, path: tuple[int, ...]) -> str | None:
        """Why the item at ``path`` does not run: a mapped condition of its own item is false."""
        for g in node.guards:
            if not g.depth:
                continue
            key = key_for(g.node, path[: g.depth])
            try:
                leaf = get_at(self.nodes[g.node].value, path[: g.depth])
            except (IndexError, TypeError):
                raise FlowError(f"step {node.name!r} has no condition item {key!r}") from None
            if is_skipped(leaf):
                return f"condition {key!r} was skipped"
            if bool(self._load(leaf, key)) is not g.expect:
                return f"condition {key!r} is {not g.expect}"
        return None

    def _pick(self, ns: NodeState, reason: str | None) -> None:
        """The first option that ran; for mapped options, item by item (a skipped item of one
        option is taken from the next option that has it)."""
        done = [self.nodes[c] for c in ns.node.choices if self.nodes[c].state == "done"]
        if reason is not None or not done:
            ns.state = "skipped"
            return
        value = done[0].value
        if ns.node.depth:
            value = _copy_refs(value)
            for path, leaf in list(walk(value, ns.node.depth)):
                if not is_skipped(leaf):
                    continue
                for other in done[1:]:
                    try:
                        alt = get_at(other.value, path)
                    except (IndexError, TypeError):
                        continue
                    if not is_skipped(alt):
                        value = set_at(value, path, alt)
                        break
        ns.state, ns.value = "done", value

    def _entry(self, inp: RefInput | ConstInput) -> dict[str, Any]:
        if isinstance(inp, ConstInput):
            return {"const": inp.value}
        up = self.nodes[inp.node]
        return {"gather": prune(up.value)} if up.node.depth else {"art": up.value}

    def _items(self, node: Node) -> tuple[list[tuple[tuple[int, ...], dict[str, Any] | None]], Any]:
        """(path, input entry for the fan-out argument; None: the item is skipped) per task, and the
        value template."""
        if node.fan_arg is None:
            return [((), {})], None
        source = node.inputs[node.fan_arg]
        if isinstance(source, ConstInput):
            values = list(source.value)
            return [((i,), {"const": v}) for i, v in enumerate(values)], [None] * len(values)
        up = self.nodes[source.node]
        items: list[tuple[tuple[int, ...], dict[str, Any] | None]] = []
        if node.join_arg is not None:
            for path, sub in walk(up.value, up.node.depth - 1):
                items.append((path, None if is_skipped(sub) else {"gather": prune(sub)}))
            return items, shape(up.value, up.node.depth - 1)
        template: Any = [] if up.node.depth == 0 else shape(up.value, up.node.depth)
        for path, ref in walk(up.value, up.node.depth):
            if is_skipped(ref):
                items.append((path, None))
                continue
            value = self._load(ref, key_for(source.node, path))
            if isinstance(value, str | bytes | dict) or not hasattr(value, "__len__"):
                hint = (
                    f"; to run one task per outer item with the list of its inner outputs, use "
                    f"{node.step_name}.join({source.node})"
                    if up.node.depth
                    else ""
                )
                raise FlowError(
                    f"step {node.name!r} maps over the output of {key_for(source.node, path)!r}, "
                    f"which is a {type(value).__name__}, not a list{hint}"
                )
            n = len(value)
            items += [((*path, j), {"art": ref, "select": [j]}) for j in range(n)]
            template = set_at(template, path, [None] * n) if path else [None] * n
        return items, template

    # ---- tasks -----------------------------------------------------------------------------------
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
        slot, out = self._resolve_task(ns, path, inputs, new, edges, recs)
        if slot is None:
            ns.value = set_at(ns.value, path, out)
            return []
        ns.open_tasks += 1
        return [slot]

    def _resolve_task(  # noqa: PLR0917 (one task's pieces)
        self,
        ns: NodeState,
        path: tuple[int, ...],
        inputs: dict[str, dict[str, Any]],
        new: list[Task],
        edges: list[LineageEdge],
        recs: list[ArtifactRecord],
        iteration: int = 0,
    ) -> tuple[Slot | None, dict[str, Any] | None]:
        """A task row; reused from the origin run or the cache (its output ref), or a slot to run."""
        node = ns.node
        ikey = input_key(inputs)
        cache_key = (
            hashlib.sha256(f"{node.code_hash}:{ikey}".encode()).hexdigest()
            if node.opts.get("cache")
            else None
        )
        key = loop_key(node.name, iteration) if iteration else key_for(node.name, path)
        reused = self.origin.lookup(key, ikey) if self.origin is not None else None
        status, source, out = TaskStatus.PENDING, None, None
        done = self.recorded.done(key) if self.recorded is not None else None
        if done is not None:  # replaying an orchestrated run: its recorded output
            status, source, out = done[0].status, done[0].reused_from, done[1]
        elif reused is not None:
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
            node,
            path,
            inputs,
            status=status,
            reused_from=source,
            cache_key=cache_key,
            ikey=ikey,
            iteration=iteration,
        )
        new.append(row)
        edges += _lineage(row.id, inputs)
        if out is not None and done is not None:
            ns.counts[status.value] = ns.counts.get(status.value, 0) + 1
            return None, out
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
            ns.counts[status.value] = ns.counts.get(status.value, 0) + 1
            return None, {**out, "id": rec.id}
        slot = Slot(task_id=row.id, key=key, node=node.name, path=path, opts=node.opts, iteration=iteration)
        self.slots[row.id] = slot
        ns.counts["pending"] = ns.counts.get("pending", 0) + 1
        return slot, None

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
        iteration: int = 0,
    ) -> Task:
        now = utcnow()
        done = status is not TaskStatus.PENDING
        spec: dict[str, Any] = {
            "node": node.name,
            "target": node.target,
            "path": list(path),
            "inputs": inputs,
            "input_key": ikey,
            "opts": node.opts,
        }
        if iteration:
            spec["iteration"] = iteration
        key = loop_key(node.name, iteration) if iteration else key_for(node.name, path)
        known = self.recorded.tasks.get(key) if self.recorded is not None else None
        return Task(
            id=known.id if known is not None else new_id(),
            run_id=self.run_id,
            step=node.name,
            key=key,
            index=iteration or (path[-1] if path else None),
            status=status,
            attempts=0,
            started_at=now if done else None,
            ended_at=now if done else None,
            error=error,
            cache_key=cache_key,
            reused_from=reused_from,
            spec=spec,
        )

    # ---- outcomes --------------------------------------------------------------------------------
    def task_succeeded(self, slot: Slot, output: dict[str, Any]) -> None:
        ns = self.nodes[slot.node]
        slot.status = TaskStatus.SUCCEEDED
        if slot.iteration:  # a loop's task: advance() runs the loop on
            self._count(ns, "pending", "succeeded")
            body = self.nodes[ns.node.loop_of] if ns.node.loop_of else ns
            assert body.loop is not None
            if ns is body:
                body.loop.last, body.loop.phase = output, "until"
            else:
                body.loop.check = output
            body.loop.ready = True
            return
        ns.value = set_at(ns.value, slot.path, output)
        ns.open_tasks -= 1
        self._count(ns, "pending", "succeeded")
        if ns.open_tasks == 0 and ns.state == "running":
            ns.state = "done"

    def task_failed(self, slot: Slot, error: str) -> None:
        ns = self.nodes[slot.node]
        slot.status, slot.error = TaskStatus.FAILED, error
        if not slot.iteration:
            ns.open_tasks -= 1
        ns.state = "failed"
        partner = ns.node.loop_of or (ns.node.loop.until if ns.node.loop else None)
        if partner is not None:
            self.nodes[partner].state = "failed"
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
        return prune(ns.value), ns.node.depth


def _ref_fields(rec: ArtifactRecord) -> dict[str, Any]:
    return {
        "digest": rec.digest,
        "size": rec.size,
        "serializer": rec.serializer,
        "unsafe": rec.unsafe,
        "meta": rec.meta,
    }


def _copy_refs(tree: Any) -> Any:
    return [_copy_refs(t) for t in tree] if isinstance(tree, list) else tree


def _lineage(task_id: str, inputs: dict[str, dict[str, Any]]) -> list[LineageEdge]:
    edges: list[LineageEdge] = []
    for name, entry in inputs.items():
        if "art" in entry:
            edges.append(LineageEdge(task_id, entry["art"]["id"], name))
        elif "gather" in entry:
            edges += [
                LineageEdge(task_id, ref["id"], key_for(name, path)) for path, ref in _refs(entry["gather"])
            ]
    return edges


def _refs(tree: Any, prefix: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], dict[str, Any]]]:
    """(path, ref) of every artifact ref in a gathered tree (inner lists may be empty)."""
    if not isinstance(tree, list):
        return [(prefix, tree)]
    return [found for i, sub in enumerate(tree) for found in _refs(sub, (*prefix, i))]
