"""Build mode: calling a flow function records step calls as graph nodes instead of running them.

Branching on data::

    @flow
    def train(n: int = 10):
        data = load(n)
        big = is_big(data)                 # a step returning a bool
        with when(big):                    # steps called here run only when `big` is truthy
            model_a = train_large(data)
        with unless(big):                  # ... and these only when it is falsy
            model_b = train_small(data)
        return pick(model_a, model_b)      # the output of whichever branch ran

Steps whose guard is false, and steps that consume a skipped step's output, get status SKIPPED.
A plain ``if`` works on parameters, which are concrete while the flow is built.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import FlowError
from shipyard.flows.graph import ConstInput, Graph, Guard, Input, Loop, Node, Ref, RefInput
from shipyard.flows.typecheck import compatible, item_type, list_of

if TYPE_CHECKING:
    from shipyard.flows.decorators import Step

_BUILDER: contextvars.ContextVar[GraphBuilder | None] = contextvars.ContextVar(
    "shipyard_builder", default=None
)


def current_builder() -> GraphBuilder | None:
    return _BUILDER.get()


class GraphBuilder:
    def __init__(self, flow_name: str) -> None:
        self.graph = Graph(flow_name=flow_name)
        self._guards: list[Guard] = []
        self._returns: dict[str, Any] = {}  # node -> return annotation of one item
        self._counts: dict[str, int] = {}
        self._spaces: dict[str, tuple[str, ...]] = {}  # node -> what each fan-out level maps over

    @contextlib.contextmanager
    def active(self) -> Iterator[GraphBuilder]:
        token = _BUILDER.set(self)
        try:
            yield self
        finally:
            _BUILDER.reset(token)

    @contextlib.contextmanager
    def guarded(self, guard: Guard) -> Iterator[None]:
        self._guards.append(guard)
        try:
            yield
        finally:
            self._guards.pop()

    def _node_name(self, base: str) -> str:
        count = self._counts.get(base, 0) + 1
        self._counts[base] = count
        return base if count == 1 else f"{base}.{count}"

    def value_type(self, ref: Ref) -> Any:
        return list_of(self._returns.get(ref.node, Any), ref.depth)

    # ---- step calls --------------------------------------------------------------------------
    def call(
        self, step: Step[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], fan: str | None = None
    ) -> Ref:
        """Record one step call: plain (``fan=None``), ``"map"`` (one task per item of the first
        argument) or ``"join"`` (one task per outer item of a mapped first argument)."""
        bound = self._bind(step, args, kwargs)
        name = self._node_name(step.name)
        hints = step.hints
        inputs: dict[str, Input] = {}
        fan_arg: str | None = None
        depth = 0
        space: tuple[str, ...] = ()
        for i, (arg, value) in enumerate(bound.arguments.items()):
            expected = hints.get(arg, Any)
            if fan is not None and i == 0:
                fan_arg = arg
                if fan == "map":
                    depth, space = self._map_source(step, arg, value, expected, inputs)
                else:
                    depth, space = self._join_source(step, arg, value, expected, inputs)
                continue
            inputs[arg] = self._input(step, arg, value, expected)
        if fan is not None and fan_arg is None:
            raise FlowError(f"step {step.name!r}: .{fan}() needs the list to fan out over as first argument")
        self._check_guards(step.name, depth, space)
        node = Node(
            name=name,
            kind="step",
            step_name=step.name,
            target=step.target,
            code_hash=step.code_hash,
            opts=step.options_dict(),
            inputs=inputs,
            map_arg=fan_arg if fan == "map" else None,
            join_arg=fan_arg if fan == "join" else None,
            depth=depth,
            guards=tuple(self._guards),
        )
        self.graph.add(node)
        self._returns[name] = hints.get("return", Any)
        self._spaces[name] = space
        return Ref(name, depth)

    def _bind(self, step: Step[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise FlowError(f"step {step.name!r}: {exc}") from None
        for arg in bound.arguments:
            param = step.signature.parameters[arg]
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise FlowError(
                    f"step {step.name!r}: *args/**kwargs cannot be wired in a flow; name the inputs"
                )
        return bound

    def _check_guards(self, name: str, depth: int, space: tuple[str, ...]) -> None:
        """A step inside ``when(mapped)`` runs per item: it must be mapped over the same items."""
        for guard in self._guards:
            if guard.depth == 0:
                continue
            if depth < guard.depth or space[: guard.depth] != self._spaces[guard.node]:
                raise FlowError(
                    f"step {name!r} is inside when({guard.node!r}), which has one value per mapped item; "
                    f"map {name!r} over the same list as {guard.node!r} (or call it after the `with` block "
                    "to join the items that ran)"
                )

    def _map_source(
        self, step: Step[Any, Any], arg: str, value: Any, expected: Any, inputs: dict[str, Input]
    ) -> tuple[int, tuple[str, ...]]:
        if isinstance(value, Ref):
            produced = self.value_type(value) if value.depth == 0 else self._returns.get(value.node, Any)
            item = item_type(produced)
            where = f"{value.node!r}" + (" (each mapped item)" if value.depth else "")
            if item is None:
                hint = (
                    f"; to run one task per outer item with the list of its inner outputs, use "
                    f"{step.name}.join({value.node})"
                    if value.depth
                    else ""
                )
                raise FlowError(
                    f"step {step.name!r}: .map() over the output of {where}, which is annotated "
                    f"{_tname(produced)}, not a list{hint}"
                )
            self._check(step, arg, item, expected, f"an item of {where}")
            inputs[arg] = RefInput(value.node)
            return value.depth + 1, (*self._spaces.get(value.node, ()), value.node)
        if not isinstance(value, list | tuple):
            raise FlowError(
                f"step {step.name!r}: .map() needs a list, got {type(value).__name__} {value!r:.60}"
            )
        for item in value:
            self._check_const(step, arg, item)
            if item is not None:
                self._check(step, arg, type(item), expected, f"the item {item!r:.40}")
        const = _jsonable(step, arg, list(value))
        inputs[arg] = ConstInput(const)
        return 1, ("const:" + json.dumps(const, sort_keys=True),)

    def _join_source(
        self, step: Step[Any, Any], arg: str, value: Any, expected: Any, inputs: dict[str, Input]
    ) -> tuple[int, tuple[str, ...]]:
        if not isinstance(value, Ref) or value.depth == 0:
            raise FlowError(
                f"step {step.name!r}: .join() takes a mapped step output (from .map()); "
                f"for a single value call {step.name}(...) directly"
            )
        produced = list_of(self._returns.get(value.node, Any), 1)
        self._check(step, arg, produced, expected, f"the inner list of {value.node!r}")
        inputs[arg] = RefInput(value.node)
        return value.depth - 1, self._spaces.get(value.node, ())[:-1]

    def _input(self, step: Step[Any, Any], arg: str, value: Any, expected: Any) -> Input:
        if isinstance(value, Ref):
            self._check(step, arg, self.value_type(value), expected, f"the output of {value.node!r}")
            return RefInput(value.node)
        self._check_const(step, arg, value)
        const = ConstInput(_jsonable(step, arg, value))
        if value is not None:
            self._check(step, arg, type(value), expected, f"the value {value!r:.40}")
        return const

    def _check(self, step: Step[Any, Any], arg: str, produced: Any, expected: Any, what: str) -> None:
        if not compatible(produced, expected):
            raise FlowError(
                f"step {step.name!r} input {arg!r} expects {_tname(expected)}, "
                f"but {what} is {_tname(produced)}"
            )

    def _check_const(self, step: Step[Any, Any], arg: str, value: Any) -> None:
        if _contains_ref(value):
            raise FlowError(
                f"step {step.name!r} input {arg!r}: a step output nested inside a list or dict cannot be "
                "wired; pass each output as its own argument"
            )

    # ---- branches ------------------------------------------------------------------------------
    def pick(self, refs: tuple[Any, ...]) -> Ref:
        if not refs or not all(isinstance(r, Ref) for r in refs):
            raise FlowError("pick() takes one or more step outputs")
        depths = {r.depth for r in refs}
        if len(depths) != 1:
            raise FlowError("pick() options must all be mapped the same way")
        name = self._node_name("pick")
        depth = depths.pop()
        choices = tuple(r.node for r in refs)
        self._spaces[name] = self._spaces.get(refs[0].node, ())
        self._check_guards(name, depth, self._spaces[name])
        self.graph.add(Node(name=name, kind="pick", choices=choices, depth=depth, guards=tuple(self._guards)))
        self._returns[name] = self._returns.get(refs[0].node, Any)
        return Ref(name, depth)

    # ---- loops -----------------------------------------------------------------------------------
    def loop(
        self,
        body: Step[Any, Any],
        state: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        until: Step[Any, Any],
        max_iterations: int,
        on_max: str,
    ) -> Ref:
        what = f"loop({getattr(body, 'name', body)!r})"
        from shipyard.flows.decorators import Step

        if not isinstance(body, Step) or not isinstance(until, Step):
            raise FlowError(f"{what}: the body and until= must both be @step functions")
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 1:
            raise FlowError(f"{what}: max_iterations must be a positive int, got {max_iterations!r}")
        if on_max not in ("fail", "stop"):
            raise FlowError(f"{what}: on_max is 'fail' or 'stop', got {on_max!r}")
        if isinstance(state, Ref) and state.depth:
            raise FlowError(
                f"{what}: the initial state {state.node!r} is mapped; join it in a step first "
                "(a loop per mapped item is not supported yet)"
            )
        ref = self.call(body, (state, *args), kwargs)
        node = self.graph.nodes[ref.node]
        state_arg = next(iter(node.inputs))
        produced = self._returns[ref.node]
        what_state = "its own output (the state of the next iteration)"
        self._check(body, state_arg, produced, body.hints.get(state_arg, Any), what_state)
        params = [p for p in until.signature.parameters.values() if p.default is p.empty]
        if len(params) != 1 or params[0].kind in (params[0].VAR_POSITIONAL, params[0].VAR_KEYWORD):
            raise FlowError(
                f"{what}: until step {until.name!r} must take exactly one required argument, the state"
            )
        check = self.call(until, (ref,), {})
        self.graph.nodes[check.node].loop_of = ref.node
        node.loop = Loop(state_arg, check.node, max_iterations, on_max)
        return ref


def _contains_ref(value: Any) -> bool:
    if isinstance(value, Ref):
        return True
    if isinstance(value, list | tuple | set):
        return any(_contains_ref(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_ref(v) for v in value.values())
    return False


def _jsonable(step: Step[Any, Any], arg: str, value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise FlowError(
            f"step {step.name!r} input {arg!r}: the constant {type(value).__name__} {value!r:.60} is not "
            "JSON; pass it as a flow parameter or produce it in a step"
        ) from None


def _tname(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _builder_or_error(what: str) -> GraphBuilder:
    builder = current_builder()
    if builder is None:
        raise FlowError(f"{what} can only be used inside a @flow function")
    return builder


@contextlib.contextmanager
def when(cond: Ref) -> Iterator[None]:
    """Steps called in this block run only when ``cond`` (a step output) is truthy."""
    with _guard(cond, True, "when()"):
        yield


@contextlib.contextmanager
def unless(cond: Ref) -> Iterator[None]:
    """Steps called in this block run only when ``cond`` (a step output) is falsy."""
    with _guard(cond, False, "unless()"):
        yield


@contextlib.contextmanager
def _guard(cond: Ref, expect: bool, what: str) -> Iterator[None]:
    builder = _builder_or_error(what)
    if not isinstance(cond, Ref):
        raise FlowError(f"{what} takes a step output; for a parameter use a plain `if`")
    with builder.guarded(Guard(cond.node, expect, cond.depth)):
        yield


def loop(
    body: Step[Any, Any],
    state: Any,
    *args: Any,
    until: Step[Any, Any],
    max_iterations: int,
    on_max: str = "fail",
    **kwargs: Any,
) -> Any:
    """Run ``body(state, *args, **kwargs)`` again and again, each output the next iteration's state,
    until ``until(state)`` (a step) is truthy; returns the last state. After ``max_iterations``
    iterations without that, the run fails (``on_max="fail"``) or the loop ends (``"stop"``).
    Outside a flow, a plain Python loop with the same rules."""
    builder = current_builder()
    if builder is None:
        for _ in range(max_iterations):
            state = body.fn(state, *args, **kwargs)
            if until.fn(state):
                return state
        if on_max == "stop":
            return state
        raise FlowError(f"loop({body.name!r}): {until.name!r} still false after {max_iterations} iterations")
    return builder.loop(body, state, args, kwargs, until=until, max_iterations=max_iterations, on_max=on_max)


def pick(*refs: Any) -> Any:
    """The output of the first of ``refs`` whose step ran (was not skipped by a branch)."""
    return _builder_or_error("pick()").pick(refs)
