"""Running the three graph shapes on the local executor (flows in tests/flows/flows_for_tests/
shapes.py): a join per outer item of a nested fan-out, a condition per mapped item, a loop. Each
expected output is computed here in plain Python; each shape also resumes after a failure and
reuses its cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.core.settings import Settings, load_settings
from shipyard.runtime.api import FlowRun, RunOptions, resume, run_file
from shipyard.runtime.render import render_run_graph
from shipyard.runtime.stores import RunStores, open_run_stores

SHAPES = Path(__file__).resolve().parents[1] / "flows" / "flows_for_tests" / "shapes.py"
S = TaskStatus


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def stores(settings: Settings) -> Iterator[RunStores]:
    s = open_run_stores(settings)
    yield s
    s.close()


def run(settings: Settings, flow: str, **params: Any) -> FlowRun:
    return run_file(SHAPES, params, settings, RunOptions(max_workers=2), flow)


def statuses(r: FlowRun) -> dict[str, TaskStatus]:
    return {t.key: t.status for t in r.tasks}


# ---- a join per outer item -------------------------------------------------------------------------
def nested_expected(n: int, by: int) -> list[int]:
    return [sum(10 * i + j + by for j in range(i)) for i in range(n)]


def test_nested_fan_out_joins_per_outer_item_including_an_empty_inner_fan_out(settings: Settings) -> None:
    r = run(settings, "nested_join", n=4, by=100)
    assert r.status is RunStatus.SUCCEEDED, r.error
    assert r.output == nested_expected(4, 100)
    tasks = statuses(r)
    assert [k for k in tasks if k.startswith("subtotal")] == [f"subtotal[{i}]" for i in range(4)]
    assert not any(k.startswith("inc[0]") for k in tasks)  # chunk[0] is empty: no inner task
    assert tasks["subtotal[0]"] is S.SUCCEEDED  # ... and its join still runs, on []
    assert r.outputs("subtotal") == nested_expected(4, 100)
    assert "subtotal[/bold] [dim]map*[/dim] [dim]join per item" in render_run_graph(r.info, r.tasks)


def test_join_lineage_names_the_inner_items_of_its_own_outer_item(
    stores: RunStores, settings: Settings
) -> None:
    r = run(settings, "nested_join", n=3, by=1)
    tasks = {t.key: t for t in r.tasks}
    outputs = {a.task_id: a.id for a in stores.metadata.list_artifacts(r.id) if a.task_id}
    edges = stores.metadata.task_inputs(tasks["subtotal[2]"].id)
    assert sorted(e.artifact_id for e in edges) == sorted(outputs[tasks[f"inc[2][{j}]"].id] for j in range(2))


def test_a_join_over_three_fan_outs_whose_first_inner_lists_are_empty(settings: Settings) -> None:
    r = run(settings, "deep_nested", n=3)  # failed with a TypeError while recording lineage
    assert r.status is RunStatus.SUCCEEDED, r.error
    assert r.output == [z + 1 for x in range(3) for y in range(x) for z in range(y)] == [1]


def test_a_failed_inner_item_resumes_alone_then_its_join_runs(settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "fixed"
    origin = run(settings, "nested_join", n=4, by=100, marker=str(marker))
    assert origin.status is RunStatus.FAILED and "inc[3][1]" in (origin.error or "")
    marker.touch()
    again = resume(origin.id, settings, RunOptions(max_workers=2))
    assert again.status is RunStatus.SUCCEEDED, again.error
    assert again.output == nested_expected(4, 100)
    tasks, before = statuses(again), statuses(origin)
    assert tasks["inc[3][1]"] is S.SUCCEEDED
    done_before = [k for k, s in before.items() if k.startswith("inc[") and s is S.SUCCEEDED]
    assert done_before and {tasks[k] for k in done_before} == {S.REUSED}
    # a failure stops the run: the items it cancelled run now, with the failed one
    assert {tasks[k] for k in tasks if k.startswith("inc[") and k not in done_before} == {S.SUCCEEDED}
    assert {tasks[f"subtotal[{i}]"] for i in range(4)} == {S.SUCCEEDED}


def test_joins_per_outer_item_are_cached(settings: Settings) -> None:
    run(settings, "nested_join", n=3, by=5)
    second = run(settings, "nested_join", n=3, by=5)
    assert {statuses(second)[f"subtotal[{i}]"] for i in range(3)} == {S.CACHED}
    assert second.output == nested_expected(3, 5)
    changed = run(settings, "nested_join", n=3, by=6)  # other inner outputs: other joins ...
    assert [statuses(changed)[f"subtotal[{i}]"] for i in range(3)] == [S.CACHED, S.SUCCEEDED, S.SUCCEEDED]
    assert changed.output == nested_expected(3, 6)  # ... but subtotal[0] joins [] again


# ---- a condition per mapped item ----------------------------------------------------------------------
def gated_expected(xs: list[int]) -> dict[str, Any]:
    return {
        "tripled": sum(3 * x for x in xs if x % 2 == 0),
        "picked": [3 * x if x % 2 == 0 else -x for x in xs],
    }


def test_when_on_a_mapped_condition_gates_each_item(settings: Settings) -> None:
    r = run(settings, "gated_items", n=5, start=0, stride=1)
    assert r.status is RunStatus.SUCCEEDED, r.error
    assert r.output == gated_expected([0, 1, 2, 3, 4])
    tasks = statuses(r)
    assert [tasks[f"triple[{i}]"] for i in range(5)] == [S.SUCCEEDED, S.SKIPPED] * 2 + [S.SUCCEEDED]
    assert [tasks[f"negate[{i}]"] for i in range(5)] == [S.SKIPPED, S.SUCCEEDED] * 2 + [S.SKIPPED]
    skipped = next(t for t in r.tasks if t.key == "triple[1]")
    assert skipped.error == "skipped: condition 'is_even[1]' is False"
    assert r.outputs("triple") == [0, 6, 12]  # the items that ran


def test_a_condition_false_for_every_item_joins_an_empty_list(settings: Settings) -> None:
    xs = [1 + 2 * i for i in range(4)]  # all odd
    r = run(settings, "gated_items", n=4, start=1, stride=2)
    assert r.status is RunStatus.SUCCEEDED, r.error
    assert r.output == gated_expected(xs) == {"tripled": 0, "picked": [-x for x in xs]}
    assert {s for k, s in statuses(r).items() if k.startswith("triple")} == {S.SKIPPED}
    assert statuses(r)["total"] is S.SUCCEEDED  # the join ran, on []


def test_a_failed_gated_item_resumes_alone(settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "fixed"
    origin = run(settings, "gated_items", n=6, marker=str(marker))
    assert origin.status is RunStatus.FAILED and "triple[4]" in (origin.error or "")
    marker.touch()
    again = resume(origin.id, settings, RunOptions(max_workers=2))
    assert again.status is RunStatus.SUCCEEDED, again.error
    assert again.output == gated_expected(list(range(6)))
    tasks, before = statuses(again), statuses(origin)
    assert tasks["triple[4]"] is S.SUCCEEDED
    done_before = [k for k in ("triple[0]", "triple[2]") if before[k] is S.SUCCEEDED]
    assert {tasks[k] for k in done_before} <= {S.REUSED}  # items cancelled by the failure run now
    assert [tasks[f"triple[{i}]"] for i in (1, 3, 5)] == [S.SKIPPED] * 3


def test_items_skipped_by_a_condition_skip_their_nested_fan_out_and_join(settings: Settings) -> None:
    r = run(settings, "gated_nested", n=5, by=100)
    assert r.status is RunStatus.SUCCEEDED, r.error
    assert r.output == [sum(10 * i + j + 100 for j in range(i)) for i in range(5) if i % 2 == 0]
    tasks = statuses(r)
    assert [tasks[f"subtotal[{i}]"] for i in range(5)] == [S.SUCCEEDED, S.SKIPPED] * 2 + [S.SUCCEEDED]
    assert [tasks[f"inc[{i}]"] for i in (1, 3)] == [S.SKIPPED] * 2  # one row for the whole item
    assert sorted(k for k in tasks if k.startswith("inc[")) == sorted(
        ["inc[1]", "inc[3]"] + [f"inc[{i}][{j}]" for i in (2, 4) for j in range(i)]
    )


# ---- a loop ---------------------------------------------------------------------------------------------
def halvings(start: float, max_iterations: int) -> list[float]:
    """The states a halving loop goes through (at most max_iterations)."""
    states, x = [], start
    for _ in range(max_iterations):
        x /= 2
        states.append(x)
        if x < 1:
            break
    return states


def test_a_loop_repeats_until_its_check_holds(settings: Settings) -> None:
    expected = halvings(10.0, 10)
    r = run(settings, "halving", start=10.0)
    assert r.status is RunStatus.SUCCEEDED, r.error
    assert r.output == {"final": expected[-1]}
    tasks = statuses(r)
    k = len(expected)
    assert sorted(t for t in tasks if t.startswith(("halve", "below_one"))) == sorted(
        [f"halve@{i}" for i in range(1, k + 1)] + [f"below_one@{i}" for i in range(1, k + 1)]
    )
    assert r.outputs("halve") == expected
    assert r.outputs("below_one") == [x < 1 for x in expected]
    shown = render_run_graph(r.info, r.tasks)
    assert "halve[/bold] [dim]loop until below_one (max 10)[/dim]" in shown
    assert f"{k} succeeded" in shown


def test_a_loop_that_hits_max_iterations_fails_or_stops(settings: Settings) -> None:
    failed = run(settings, "halving", start=1000.0, max_iterations=3)
    assert failed.status is RunStatus.FAILED
    assert "max_iterations=3" in (failed.error or "") and "on_max='stop'" in (failed.error or "")
    assert sum(k.startswith("halve@") for k in statuses(failed)) == 3
    stopped = run(settings, "halving", start=1000.0, max_iterations=3, on_max="stop")
    assert stopped.status is RunStatus.SUCCEEDED, stopped.error
    assert stopped.output == {"final": halvings(1000.0, 3)[-1]} == {"final": 125.0}


def test_a_loop_resumes_at_the_failed_iteration(settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "fixed"
    origin = run(settings, "halving", start=20.0, marker=str(marker))  # 10, 5, 2.5, then halving 2.5 fails
    assert origin.status is RunStatus.FAILED and "halve@4" in (origin.error or "")
    assert "halve@5" not in statuses(origin) and "below_one@4" not in statuses(origin)
    marker.touch()
    again = resume(origin.id, settings, RunOptions(max_workers=2))
    assert again.status is RunStatus.SUCCEEDED, again.error
    expected = halvings(20.0, 10)
    assert again.output == {"final": expected[-1]}
    tasks = statuses(again)
    assert [tasks[f"halve@{i}"] for i in (1, 2, 3)] == [S.REUSED] * 3
    assert [tasks[f"below_one@{i}"] for i in (1, 2, 3)] == [S.REUSED] * 3
    assert {tasks[f"halve@{i}"] for i in range(4, len(expected) + 1)} == {S.SUCCEEDED}
    assert len(expected) == 5  # 10, 5, 2.5, 1.25, 0.625


def test_loop_iterations_are_cached_and_linked_by_lineage(stores: RunStores, settings: Settings) -> None:
    first = run(settings, "halving", start=6.0)
    second = run(settings, "halving", start=6.0)
    k = len(halvings(6.0, 10))
    tasks = statuses(second)
    assert {tasks[f"halve@{i}"] for i in range(1, k + 1)} == {S.CACHED}
    assert second.output == first.output
    by_key = {t.key: t for t in first.tasks}
    outputs = {a.task_id: a.id for a in stores.metadata.list_artifacts(first.id) if a.task_id}
    edges = stores.metadata.task_inputs(by_key["halve@2"].id)
    assert [e.artifact_id for e in edges if e.input_name == "x"] == [outputs[by_key["halve@1"].id]]
