"""Building the three graph shapes: a join per outer item (``step.join``), a condition per mapped
item (``when(mapped)``) and a loop (``loop(...)``); their one-line validation errors, and what they
do outside a flow. Running them: tests/runtime/test_graph_shapes.py."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core.errors import FlowError
from shipyard.flows import Graph, flow, loop, pick, step, unless, when


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def chunk(x: int) -> list[int]:
    return list(range(x))


@step
def square(x: int) -> int:
    return x * x


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@step
def words(xs: list[str]) -> str:
    return " ".join(xs)


@step
def is_odd(x: int) -> bool:
    return x % 2 == 1


@step
def halve(x: float, floor: float = 0.0) -> float:
    return max(x / 2, floor)


@step
def small(x: float) -> bool:
    return x < 1


@step
def as_text(x: float) -> str:
    return str(x)


@step
def two_args(x: float, y: float) -> bool:
    return x < y


def build(fn: Any, **params: Any) -> Graph:
    graph: Graph = flow(fn).build(params)
    return graph


# ---- join per outer item ----------------------------------------------------------------------------
def test_join_closes_one_fan_out_level() -> None:
    def shape(n: int = 3):
        inner = square.map(chunk.map(numbers(n)))  # depth 2
        return total(total.join(inner))  # total.join: depth 1, one task per outer item

    graph = build(shape)
    join = graph.nodes["total"]
    assert (join.join_arg, join.map_arg, join.depth) == ("xs", None, 1)
    assert graph.nodes["total.2"].depth == 0
    assert Graph.from_dict(graph.to_dict()).to_dict() == graph.to_dict()


def test_join_errors_name_the_step_and_the_fix() -> None:
    def not_mapped():
        return total.join(numbers(3))

    with pytest.raises(FlowError, match=r"^step 'total': \.join\(\) takes a mapped step output .*call total"):
        build(not_mapped)

    def wrong_type():
        return words.join(square.map(chunk.map(numbers(3))))

    with pytest.raises(
        FlowError, match=r"expects list\[str\], but the inner list of 'square' is list\[int\]"
    ):
        build(wrong_type)

    def map_instead():  # the mistake the issue names: .map over mapped non-lists
        return total.map(square.map(chunk.map(numbers(3))))

    with pytest.raises(
        FlowError, match=r"not a list; to run one task per outer item .* use total\.join\(square\)"
    ):
        build(map_instead)


def test_join_outside_a_flow_is_one_call_per_inner_list() -> None:
    assert total.join([[1, 2], [], [3]]) == [3, 0, 3]


# ---- a condition per mapped item ------------------------------------------------------------------
def test_when_on_a_mapped_condition_guards_per_item() -> None:
    def gated(n: int = 4):
        xs = numbers(n)
        odd = is_odd.map(xs)
        with when(odd):
            a = square.map(xs)
        with unless(odd):
            b = square.map(xs)
        return total(pick(a, b))

    graph = build(gated)
    (guard,) = graph.nodes["square"].guards
    assert (guard.node, guard.expect, guard.depth) == ("is_odd", True, 1)
    assert Graph.from_dict(graph.to_dict()).nodes["square.2"].guards == graph.nodes["square.2"].guards


def test_a_mapped_condition_gates_deeper_fan_outs_and_joins_of_its_items() -> None:
    def deeper(n: int = 4):
        xs = numbers(n)
        odd = is_odd.map(xs)
        with when(odd):
            inner = square.map(chunk.map(xs))  # depth 2 under a depth-1 condition
            sums = total.join(inner)  # depth 1: one per outer item
        return total(sums)

    graph = build(deeper)
    assert [g.depth for g in graph.nodes["total"].guards] == [1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("plain", r"step 'total' is inside when\('is_odd'\), which has one value per mapped item"),
        ("other_list", r"step 'square' is inside when\('is_odd'\).*map 'square' over the same list"),
        ("const", r"step 'square' is inside when\('is_odd'\)"),
    ],
)
def test_steps_inside_a_mapped_condition_must_map_over_its_items(body: str, message: str) -> None:
    def gated(n: int = 4):
        xs, other = numbers(n), numbers(n + 1)
        odd = is_odd.map(xs)
        with when(odd):
            if body == "plain":
                total(xs)
            elif body == "other_list":
                square.map(other)
            else:
                square.map([1, 2, 3, 4])

    with pytest.raises(FlowError, match=message):
        build(gated)


def test_the_same_constant_list_aligns() -> None:
    def gated():
        odd = is_odd.map([1, 2, 3])
        with when(odd):
            squares = square.map([1, 2, 3])
        return total(squares)

    assert build(gated).nodes["square"].guards[0].depth == 1


# ---- loops ----------------------------------------------------------------------------------------
def test_loop_builds_a_body_and_its_check() -> None:
    def looped(start: float = 8.0):
        return as_text(loop(halve, start, until=small, max_iterations=5, floor=0.1))

    graph = build(looped)
    body, check = graph.nodes["halve"], graph.nodes["small"]
    assert body.loop is not None and body.loop.to_dict() == {
        "state_arg": "x",
        "until": "small",
        "max_iterations": 5,
        "on_max": "fail",
    }
    assert check.loop_of == "halve" and check.upstream == ["halve"]
    assert graph.nodes["as_text"].upstream == ["halve"]
    again = Graph.from_dict(graph.to_dict())
    assert again.nodes["halve"].loop == body.loop and again.nodes["small"].loop_of == "halve"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_iterations": 0}, r"^loop\('halve'\): max_iterations must be a positive int"),
        ({"max_iterations": True}, r"max_iterations must be a positive int, got True"),
        ({"on_max": "warn"}, r"on_max is 'fail' or 'stop'"),
        ({"body": as_text}, r"step 'as_text' input 'x' expects float, but its own output"),
        ({"until": two_args}, r"until step 'two_args' must take exactly one"),
        ({"until": lambda x: x}, r"must both be @step functions"),
    ],
)
def test_loop_errors_name_the_loop_and_the_fix(options: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {"body": halve, "until": small, "max_iterations": 3, **options}

    def looped():
        return loop(kwargs.pop("body"), 4.0, **kwargs)

    with pytest.raises(FlowError, match=message):
        build(looped)


def test_a_loop_over_a_mapped_state_or_inside_a_mapped_condition_is_refused() -> None:
    def mapped_state():
        return loop(halve, square.map(numbers(2)), until=small, max_iterations=3)

    with pytest.raises(FlowError, match=r"the initial state 'square' is mapped; join it in a step first"):
        build(mapped_state)

    def in_mapped_when():
        odd = is_odd.map(numbers(3))
        with when(odd):
            loop(halve, 4.0, until=small, max_iterations=3)

    with pytest.raises(FlowError, match=r"step 'halve' is inside when\('is_odd'\)"):
        build(in_mapped_when)


def test_loop_outside_a_flow_is_a_plain_loop() -> None:
    assert loop(halve, 8.0, until=small, max_iterations=10) == 0.5
    assert loop(halve, 8.0, until=small, max_iterations=2, on_max="stop") == 2.0
    with pytest.raises(FlowError, match="still false after 2 iterations"):
        loop(halve, 8.0, until=small, max_iterations=2)
