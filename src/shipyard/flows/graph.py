"""The static graph of a flow: nodes (one per step call), their inputs, map-ness and guards.

A graph is built by calling the flow function in *build mode* (see :mod:`shipyard.flows.build`):
step calls return :class:`Ref` placeholders instead of running. Nothing here executes a step.

Input kinds, stored on :class:`Node.inputs` by argument name:

- :class:`RefInput` -- another node's output (a whole mapped output is a join: the list of its
  items, in index order);
- :class:`ConstInput` -- a value known at build time (a flow parameter or a literal; JSON only).

A mapped node (``step.map(source, ...)``) has ``map_arg`` naming the argument that receives one
item of ``source``; it expands into one task per item when ``source`` is known at run time.
Mapping over a mapped output nests: each upstream item must itself be a list, and the tasks are
keyed ``step[i][j]``. A joining node (``step.join(source, ...)``) has ``join_arg``: it closes the
innermost fan-out of ``source``, one task per outer item receiving the list of its inner outputs.

A guard on a mapped condition (``when(mapped)``) has ``depth`` > 0: it gates each task by the
condition's item at the same index (the graph builder checks both are mapped over the same items).

A loop (``loop(body, state, until=check, max_iterations=N)``) is two nodes: the body, whose
:class:`Loop` names its state argument, and the ``until`` node (``loop_of`` names the body). The
runtime expands them into iterations ``body@1``, ``check@1``, ``body@2``..., the graph stays static.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.core.errors import FlowError


@dataclass(frozen=True)
class Ref:
    """A step's future output inside a flow being built (its value is known only at run time)."""

    node: str
    depth: int = 0  # 0: one value; n: the output of a node mapped n levels deep

    def __bool__(self) -> bool:
        raise FlowError(
            f"the output of step {self.node!r} is not known while the flow is built; "
            "branch on data with `with shipyard.flows.when(ref): ...` (plain `if` works on params only)"
        )

    def __iter__(self) -> Any:
        raise FlowError(
            f"cannot iterate over the output of step {self.node!r} while the flow is built; "
            "fan out with `step.map(ref)`"
        )

    def __len__(self) -> int:
        raise FlowError(f"the length of step {self.node!r}'s output is known only at run time; use step.map")


@dataclass(frozen=True)
class RefInput:
    node: str


@dataclass(frozen=True)
class ConstInput:
    value: Any


Input = RefInput | ConstInput


@dataclass(frozen=True)
class Guard:
    """Run the guarded node only when the output of ``node`` is truthy (``expect=True``) or falsy."""

    node: str
    expect: bool = True
    depth: int = 0  # the condition's depth: > 0 gates per item, by the first ``depth`` indices


@dataclass(frozen=True)
class Loop:
    """The body of a loop: its output becomes ``state_arg`` of the next iteration until the output of
    ``until`` (a step on the new state) is truthy; at most ``max_iterations`` iterations, after which
    the run fails (``on_max="fail"``) or the loop ends with the last state (``"stop"``)."""

    state_arg: str
    until: str
    max_iterations: int
    on_max: str = "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "state_arg": self.state_arg,
            "until": self.until,
            "max_iterations": self.max_iterations,
            "on_max": self.on_max,
        }


@dataclass
class Node:
    name: str  # unique in the graph; the step name, suffixed ``.2``... when a step is called again
    kind: str  # "step" or "pick" (first non-skipped of ``choices``; runs no task)
    step_name: str = ""
    target: str = ""  # "module:qualname" of the step function, for workers to import it
    code_hash: str = ""  # sha256 of the step function's source (cache keys)
    opts: dict[str, Any] = field(default_factory=dict)  # retries, timeout, cache, resources...
    inputs: dict[str, Input] = field(default_factory=dict)
    map_arg: str | None = None
    depth: int = 0
    guards: tuple[Guard, ...] = ()
    choices: tuple[str, ...] = ()  # for "pick" nodes
    join_arg: str | None = None
    loop: Loop | None = None  # on a loop's body
    loop_of: str | None = None  # on a loop's ``until`` node: the body it ends

    @property
    def fan_arg(self) -> str | None:
        """The argument that receives one item (``map``) or one inner list (``join``) per task."""
        return self.map_arg or self.join_arg

    @property
    def upstream(self) -> list[str]:
        ups = [inp.node for inp in self.inputs.values() if isinstance(inp, RefInput)]
        ups += [g.node for g in self.guards]
        ups += list(self.choices)
        return list(dict.fromkeys(ups))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "step": self.step_name,
            "target": self.target,
            "code_hash": self.code_hash,
            "opts": self.opts,
            "inputs": {
                k: ({"ref": v.node} if isinstance(v, RefInput) else {"const": v.value})
                for k, v in self.inputs.items()
            },
            "map_arg": self.map_arg,
            "depth": self.depth,
            "guards": [{"node": g.node, "expect": g.expect, "depth": g.depth} for g in self.guards],
            "choices": list(self.choices),
            "join_arg": self.join_arg,
            "loop": self.loop.to_dict() if self.loop else None,
            "loop_of": self.loop_of,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        inputs: dict[str, Input] = {
            k: (RefInput(v["ref"]) if "ref" in v else ConstInput(v["const"]))
            for k, v in data.get("inputs", {}).items()
        }
        return cls(
            name=data["name"],
            kind=data["kind"],
            step_name=data.get("step", ""),
            target=data.get("target", ""),
            code_hash=data.get("code_hash", ""),
            opts=dict(data.get("opts", {})),
            inputs=inputs,
            map_arg=data.get("map_arg"),
            depth=int(data.get("depth", 0)),
            guards=tuple(
                Guard(g["node"], bool(g["expect"]), int(g.get("depth", 0))) for g in data.get("guards", [])
            ),
            choices=tuple(data.get("choices", [])),
            join_arg=data.get("join_arg"),
            loop=Loop(**data["loop"]) if data.get("loop") else None,
            loop_of=data.get("loop_of"),
        )


@dataclass
class Graph:
    """Nodes in the order they were built (a topological order), and the flow's output."""

    flow_name: str
    nodes: dict[str, Node] = field(default_factory=dict)
    output: Input | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, node: Node) -> None:
        if node.name in self.nodes:
            raise FlowError(f"flow {self.flow_name!r} has two nodes named {node.name!r}")
        self.nodes[node.name] = node

    def downstream(self, name: str) -> list[str]:
        return [n.name for n in self.nodes.values() if name in n.upstream]

    def topological_order(self) -> list[str]:
        """Node names, upstream first; FlowError naming the nodes of a cycle or a missing node."""
        for node in self.nodes.values():
            for up in node.upstream:
                if up not in self.nodes:
                    raise FlowError(f"step {node.name!r} reads the output of unknown step {up!r}")
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            mark = state.get(name, 0)
            if mark == 2:
                return
            if mark == 1:
                cycle = [*path[path.index(name) :], name]
                raise FlowError(f"flow {self.flow_name!r} has a cycle: {' -> '.join(cycle)}")
            state[name] = 1
            for up in self.nodes[name].upstream:
                visit(up, [*path, name])
            state[name] = 2
            order.append(name)

        for name in self.nodes:
            visit(name, [])
        return order

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] | None = None
        if isinstance(self.output, RefInput):
            out = {"ref": self.output.node}
        elif isinstance(self.output, ConstInput):
            out = {"const": self.output.value}
        return {
            "flow": self.flow_name,
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "output": out,
            "params": self.params,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Graph:
        graph = cls(flow_name=data["flow"], params=dict(data.get("params", {})))
        for nd in data.get("nodes", []):
            graph.add(Node.from_dict(nd))
        out = data.get("output")
        if out is not None:
            graph.output = RefInput(out["ref"]) if "ref" in out else ConstInput(out["const"])
        return graph
