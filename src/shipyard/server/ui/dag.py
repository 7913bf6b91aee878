"""The DAG of a flow run laid out for an SVG: one box per node, columns by depth, task statuses.

The same ideas as :func:`shipyard.runtime.render.render_graph` (levels = longest path from a root,
statuses counted per step), but as coordinates a template draws. Runs without a stored graph get one
box per step found in the task records, in creation order, without edges.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from shipyard.core.entities import Task
from shipyard.core.errors import FlowError
from shipyard.flows.graph import Graph

BOX_W = 168
BOX_H = 52
GAP_X = 56
GAP_Y = 18
PAD = 12

#: worst first: a step shows the worst status among its tasks
_SEVERITY = ("failed", "cancelled", "running", "pending", "succeeded", "cached", "reused", "skipped")


@dataclass(frozen=True)
class DagNode:
    name: str
    kind: str
    x: int
    y: int
    status: str  # the step's overall status (css class), "none" when it has no task
    counts: tuple[tuple[str, int], ...]  # (status, number of tasks)
    mapped: bool

    @property
    def summary(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in self.counts) or "no tasks"


@dataclass(frozen=True)
class DagEdge:
    path: str  # SVG path data


@dataclass(frozen=True)
class Dag:
    nodes: list[DagNode]
    edges: list[DagEdge]
    width: int
    height: int


def _overall(counts: Counter[str]) -> str:
    for status in _SEVERITY:
        if counts.get(status):
            return status
    return "none"


def _graph(spec: dict[str, Any] | None) -> Graph | None:
    if not spec or not isinstance(spec.get("graph"), dict):
        return None
    try:
        graph = Graph.from_dict(spec["graph"])
        graph.topological_order()
    except (FlowError, KeyError, TypeError, ValueError):
        return None
    return graph


def layout_dag(flow_spec: dict[str, Any] | None, tasks: list[Task]) -> Dag | None:
    """Boxes and edges for the run's graph; None when the run has neither a graph nor tasks."""
    by_step: dict[str, Counter[str]] = {}
    for task in tasks:
        by_step.setdefault(task.step, Counter())[task.status.value] += 1
    graph = _graph(flow_spec)
    names: list[str]
    ups: dict[str, list[str]]
    kinds: dict[str, str]
    mapped: dict[str, bool]
    if graph is not None:
        names = graph.topological_order()
        ups = {n: graph.nodes[n].upstream for n in names}
        kinds = {n: graph.nodes[n].kind for n in names}
        mapped = {n: graph.nodes[n].depth > 0 for n in names}
    elif by_step:
        names = list(by_step)
        ups = {n: [] for n in names}
        kinds = dict.fromkeys(names, "step")
        mapped = {n: by_step[n].total() > 1 for n in names}
    else:
        return None
    level: dict[str, int] = {}
    for name in names:
        level[name] = 1 + max((level[u] for u in ups[name] if u in level), default=-1)
    rows: Counter[int] = Counter()
    pos: dict[str, tuple[int, int]] = {}
    for name in names:
        col, row = level[name], rows[level[name]]
        rows[col] += 1
        pos[name] = (PAD + col * (BOX_W + GAP_X), PAD + row * (BOX_H + GAP_Y))
    nodes = []
    for name in names:
        counts = by_step.get(name, Counter())
        x, y = pos[name]
        nodes.append(
            DagNode(
                name=name,
                kind=kinds[name],
                x=x,
                y=y,
                status=_overall(counts),
                counts=tuple(sorted(counts.items(), key=lambda kv: _SEVERITY.index(kv[0]))),
                mapped=mapped[name],
            )
        )
    edges = []
    for name in names:
        x2, y2 = pos[name]
        for up in ups[name]:
            if up not in pos:
                continue
            x1, y1 = pos[up]
            sx, sy, ex, ey = x1 + BOX_W, y1 + BOX_H // 2, x2, y2 + BOX_H // 2
            mid = (sx + ex) // 2
            edges.append(DagEdge(f"M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}"))
    width = PAD * 2 + (max(level.values()) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max(rows.values()) * (BOX_H + GAP_Y) - GAP_Y
    return Dag(nodes=nodes, edges=edges, width=width, height=height)
