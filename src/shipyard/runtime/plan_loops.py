"""A loop's body expands one iteration at a time (``body@k``, then ``until@k`` on its output)
until the check holds or ``max_iterations`` is reached: the part of :class:`RunPlan` that moves a
loop on."""

from __future__ import annotations

from typing import Any

from shipyard.core.entities import ArtifactRecord, LineageEdge, Task
from shipyard.runtime.plan_state import LoopState, NodeState, Slot
from shipyard.runtime.tree import loop_key


class LoopMixin:
    """Needs the plan's nodes, task resolution, loading and node failure (see RunPlan)."""

    nodes: dict[str, NodeState]

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
        raise NotImplementedError

    def _load(self, ref: dict[str, Any], name: str) -> Any:
        raise NotImplementedError

    def _fail_node(self, ns: NodeState, error: str, new: list[Task]) -> None:
        raise NotImplementedError

    # ---- loops -----------------------------------------------------------------------------------
    def _start_loop(
        self,
        ns: NodeState,
        common: dict[str, dict[str, Any]],
        new: list[Task],
        edges: list[LineageEdge],
        recs: list[ArtifactRecord],
    ) -> list[Slot]:
        assert ns.node.loop is not None
        state = common.pop(ns.node.loop.state_arg)
        ns.loop = LoopState(common=common, state=state)
        self.nodes[ns.node.loop.until].state = "running"
        return self._loop_next(ns, new, edges, recs)

    def _loop_next(
        self, ns: NodeState, new: list[Task], edges: list[LineageEdge], recs: list[ArtifactRecord]
    ) -> list[Slot]:
        """Move a loop on until a task must run (returned) or the loop ended."""
        ls, spec = ns.loop, ns.node.loop
        assert ls is not None and spec is not None
        until = self.nodes[spec.until]
        ls.ready = False
        while True:
            if ls.check is not None:
                check, ls.check = ls.check, None
                if self._loop_decide(ns, check, new):
                    return []
            if ls.phase == "body":
                ls.iteration += 1
                inputs = {**ls.common, spec.state_arg: ls.state}
                slot, out = self._resolve_task(ns, (), inputs, new, edges, recs, ls.iteration)
                if slot is not None:
                    return [slot]
                ls.last, ls.phase = out, "until"
            assert ls.last is not None
            arg = next(iter(until.node.inputs))
            slot, out = self._resolve_task(until, (), {arg: {"art": ls.last}}, new, edges, recs, ls.iteration)
            if slot is not None:
                return [slot]
            ls.check = out

    def _loop_decide(self, ns: NodeState, check: dict[str, Any], new: list[Task]) -> bool:
        """Judge the until step's output of this iteration; True when the loop ended."""
        ls, spec = ns.loop, ns.node.loop
        assert ls is not None and spec is not None
        until = self.nodes[spec.until]
        holds = bool(self._load(check, loop_key(spec.until, ls.iteration)))
        if holds or (ls.iteration >= spec.max_iterations and spec.on_max == "stop"):
            ns.state, ns.value = "done", ls.last
            until.state, until.value = "done", check
            return True
        if ls.iteration >= spec.max_iterations:
            until.state = "failed"
            self._fail_node(
                ns,
                f"loop {ns.node.name!r}: {spec.until!r} was still false after max_iterations="
                f"{spec.max_iterations}; raise max_iterations, or pass on_max='stop' to keep the last state",
                new,
            )
            return True
        ls.state, ls.phase = {"art": ls.last}, "body"
        return False
