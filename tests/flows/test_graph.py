"""Graph building and validation: nothing runs; errors are caught before a run starts."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core.errors import FlowError
from shipyard.flows import Graph, flow, pick, step, when
from shipyard.flows.graph import ConstInput, Node, RefInput


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step(retries=2, timeout=5, cache=True, resources={"cpu": 2, "memory": "1GB"})
def square(x: int) -> int:
    return x * x


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@step
def shout(s: str) -> str:
    return s.upper()


@step
def flag(x: int) -> bool:
    return x > 0


@flow
def hello(n: int = 3):
    return total(square.map(numbers(n)))


def test_steps_are_plain_functions_outside_a_flow() -> None:
    assert square(4) == 16
    assert square.map([1, 2]) == [1, 4]
    assert total([1, 2]) == 3


def test_build_records_nodes_map_and_join_without_running() -> None:
    graph = hello.build({"n": 5})
    assert list(graph.nodes) == ["numbers", "square", "total"]
    sq = graph.nodes["square"]
    assert sq.map_arg == "x" and sq.depth == 1
    assert sq.inputs == {"x": RefInput("numbers")}
    assert graph.nodes["numbers"].inputs == {"n": ConstInput(5)}
    assert graph.nodes["total"].depth == 0
    assert graph.output == RefInput("total")
    assert sq.opts["retries"] == 2 and sq.opts["resources"] == {"cpu": 2.0, "memory_mb": 1024, "gpu": 0}
    assert graph.params == {"n": 5}


def test_graph_round_trips_through_dict() -> None:
    graph = hello.build({})
    again = Graph.from_dict(graph.to_dict())
    assert again.to_dict() == graph.to_dict()


def test_type_mismatch_seen_from_annotations() -> None:
    @flow
    def bad():
        return shout(total(numbers(3)))

    with pytest.raises(
        FlowError, match=r"step 'shout' input 's' expects str, but the output of 'total' is int"
    ):
        bad.build({})


def test_join_type_is_checked_against_the_list_of_mapped_outputs() -> None:
    @flow
    def bad():
        return shout(square.map(numbers(3)))

    with pytest.raises(FlowError, match=r"expects str, but the output of 'square' is list\[int\]"):
        bad.build({})


def test_map_over_a_non_list_annotation_fails_at_build() -> None:
    @flow
    def bad():
        return square.map(total(numbers(2)))

    with pytest.raises(FlowError, match="annotated int, not a list"):
        bad.build({})


def test_map_over_a_non_list_constant() -> None:
    @flow
    def bad():
        return square.map(3)

    with pytest.raises(FlowError, match=r"\.map\(\) needs a list, got int"):
        bad.build({})


def test_missing_input_is_an_error() -> None:
    @flow
    def bad():
        return total()

    with pytest.raises(FlowError, match="step 'total': missing a required argument: 'xs'"):
        bad.build({})


def test_branching_on_a_ref_with_if_is_an_error() -> None:
    @flow
    def bad():
        if flag(1):
            return total([1])
        return None

    with pytest.raises(FlowError, match=r"branch on data with `with shipyard\.flows\.when"):
        bad.build({})


def test_when_guards_nodes_and_pick_merges() -> None:
    @flow
    def branched(n: int = 1):
        x = total(numbers(n))
        with when(flag(x)):
            a = square(x)
        return pick(a, x)

    graph = branched.build({})
    assert [g.node for g in graph.nodes["square"].guards] == ["flag"]
    assert graph.nodes["pick"].kind == "pick" and graph.nodes["pick"].choices == ("square", "total")


def test_repeated_step_calls_get_distinct_names() -> None:
    @flow
    def twice():
        return total(numbers(square(square(2))))

    graph = twice.build({})
    assert list(graph.nodes) == ["square", "square.2", "numbers", "total"]
    assert graph.nodes["square.2"].inputs == {"x": RefInput("square")}


def test_cycle_and_unknown_upstream_detected() -> None:
    graph = Graph("g")
    graph.add(Node(name="a", kind="step", inputs={"x": RefInput("b")}))
    graph.add(Node(name="b", kind="step", inputs={"x": RefInput("a")}))
    with pytest.raises(FlowError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        graph.topological_order()
    lone = Graph("h")
    lone.add(Node(name="a", kind="step", inputs={"x": RefInput("zzz")}))
    with pytest.raises(FlowError, match="unknown step 'zzz'"):
        lone.topological_order()


def test_refs_nested_in_constants_are_rejected() -> None:
    @flow
    def bad():
        return total([numbers(1)])

    with pytest.raises(FlowError, match="nested inside a list"):
        bad.build({})


def test_non_json_constants_are_rejected() -> None:
    @flow
    def bad():
        return total(object())  # type: ignore[arg-type]

    with pytest.raises(FlowError, match="is not JSON"):
        bad.build({})


def test_flow_without_steps_and_bad_return() -> None:
    @flow
    def empty():
        return None

    with pytest.raises(FlowError, match="calls no step"):
        empty.build({})

    @flow
    def returns_const():
        numbers(1)
        return 3

    with pytest.raises(FlowError, match="return one step output"):
        returns_const.build({})


def test_step_options_are_validated() -> None:
    with pytest.raises(FlowError, match="unknown resources"):
        step(resources={"tpu": 1})(_noop)
    with pytest.raises(FlowError, match="memory"):
        step(resources={"memory": "lots"})(_noop)
    with pytest.raises(FlowError, match="module level"):

        @step
        def inner() -> int:
            return 1


def _noop() -> Any:
    return None


def test_constants_and_params_are_checked_against_annotations() -> None:
    @flow
    def bad(name: str = "x"):
        return numbers(name)

    with pytest.raises(FlowError, match="step 'numbers' input 'n' expects int, but the value 'x' is str"):
        bad.build({})

    @flow
    def bad_items():
        return square.map(["a"])

    with pytest.raises(FlowError, match="expects int, but the item 'a' is str"):
        bad_items.build({})
