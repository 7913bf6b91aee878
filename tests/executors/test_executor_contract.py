"""The executor contract: the same flow behaviours, run on every executor (``executor`` fixture)."""

from __future__ import annotations

from pathlib import Path

from shipyard.artifacts.store import StoredObject
from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.runtime.logs import task_logs
from tests.executors.conftest import FLOWS, Runner


def test_linear_flow_records_tasks_artifacts_and_lineage(runner: Runner) -> None:
    run = runner.run("linear.py", n=4)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.output == {"count": 4, "sum": 12}
    tasks = runner.tasks(run)
    assert list(tasks) == ["load", "double", "summarize"]
    assert all(t.status is TaskStatus.SUCCEEDED and t.attempts == 1 for t in tasks.values())
    md = runner.stores.metadata
    load_out = md.find_artifact(run.id, "output", task_id=tasks["load"].id)
    edges = md.task_inputs(tasks["double"].id)
    assert [(e.artifact_id, e.input_name) for e in edges] == [(load_out.id, "xs")]
    info = run.info
    assert info.params == {"n": 4}
    assert info.code_version is not None and info.code_version.source_hash
    assert info.namespace == runner.settings.user_namespace
    assert info.end_time is not None
    out = md.find_artifact(run.id, "output")
    assert out.task_id is None
    assert md.find_artifact(run.id, "logs/stdout", task_id=tasks["load"].id).size > 0


def test_fan_out_and_join_in_order(runner: Runner) -> None:
    run = runner.run("fanout.py", "hello", n=12)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.output == sum(i * i for i in range(12))
    tasks = runner.tasks(run)
    assert [tasks[f"square[{i}]"].index for i in range(12)] == list(range(12))
    assert run.outputs("square") == [i * i for i in range(12)]
    assert len(runner.stores.metadata.task_inputs(tasks["total"].id)) == 12


def test_empty_fan_out_joins_to_empty_list(runner: Runner) -> None:
    run = runner.run("fanout.py", "hello", n=0)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.output == 0


def test_map_over_constant_list(runner: Runner) -> None:
    run = runner.run("fanout.py", "const_map", values="[2, 3]")
    assert run.output == 13


def test_nested_fan_out(runner: Runner) -> None:
    run = runner.run("fanout.py", "nested", n=4, by=10)
    assert run.status is RunStatus.SUCCEEDED, run.error
    # chunk[i] = range(i): [], [0], [0, 1], [0, 1, 2]; each item + 10, flattened in order
    assert run.output == [10, 10, 11, 10, 11, 12]
    keys = set(runner.tasks(run))
    assert {"inc[1][0]", "inc[2][1]", "inc[3][2]"} <= keys
    assert "inc[0][0]" not in keys


def test_branch_on_data_skips_the_other_side(runner: Runner) -> None:
    small = runner.run("branch.py", "branching", n=3)
    assert small.output == "small:3"
    tasks = runner.tasks(small)
    assert tasks["big"].status is TaskStatus.SKIPPED
    assert tasks["small"].status is TaskStatus.SUCCEEDED
    big = runner.run("branch.py", "branching", n=20, loud=True)
    assert big.output == "BIG:20"
    assert runner.tasks(big)["small"].status is TaskStatus.SKIPPED


def test_branch_between_mapped_steps(runner: Runner) -> None:
    assert runner.run("branch.py", "branching_map", n=4).output == -6
    big = runner.run("branch.py", "branching_map", n=10)
    assert big.output == 3 * 45
    assert runner.tasks(big)["negate"].status is TaskStatus.SKIPPED


def test_failure_records_traceback_on_task_and_run(runner: Runner, tmp_path: Path) -> None:
    run = runner.run("faults.py", "failing", n=4, marker=str(tmp_path / "fixed"))
    assert run.status is RunStatus.FAILED
    task = runner.tasks(run)["fragile[2]"]
    assert task.status is TaskStatus.FAILED
    assert task.error is not None and "ValueError: boom on item 2" in task.error
    assert "fragile" in task.error and "task_entry.py" not in task.error
    assert run.error is not None and "fragile[2]" in run.error and "boom on item 2" in run.error
    assert "total" not in runner.tasks(run)


def test_retry_with_backoff_then_success(runner: Runner, tmp_path: Path) -> None:
    run = runner.run("faults.py", "retrying", n=3, state_dir=str(tmp_path))
    assert run.status is RunStatus.SUCCEEDED, run.error
    tasks = runner.tasks(run)
    assert [tasks[f"flaky[{i}]"].attempts for i in range(3)] == [2, 2, 2]
    assert run.output == 3
    # what the failed first attempt logged does not block the retry: the retry's value stands
    md = runner.stores.metadata
    for i in range(3):
        note = md.find_artifact(run.id, "note", task_id=tasks[f"flaky[{i}]"].id)
        assert runner.stores.artifacts.get_object(StoredObject.of(note)) == {"attempt": 2}


def test_a_retried_task_shows_its_succeeding_attempt_and_keeps_the_failed_one(
    runner: Runner, tmp_path: Path
) -> None:
    run = runner.run("faults.py", "retrying", n=2, state_dir=str(tmp_path))
    assert run.status is RunStatus.SUCCEEDED, run.error
    md, art = runner.stores.metadata, runner.stores.artifacts
    for i in range(2):
        task = runner.tasks(run)[f"flaky[{i}]"]
        assert task.status is TaskStatus.SUCCEEDED and task.attempts == 2
        assert task.error is None  # not the failed first attempt's traceback
        own = {a.name: a for a in md.list_artifacts(run.id, task_id=task.id)}
        assert set(own) == {"note", "output"}  # attempt 1's stdout is not this task's log
        assert {a.attempt for a in own.values()} == {2}
        first, second = md.list_task_attempts(task.id)
        assert first.status is TaskStatus.FAILED and first.error and "first attempt fails" in first.error
        logs = {a.name: a for a in first.artifacts}
        assert art.get_bytes(logs["logs/stdout"].digest) == f"first attempt of item {i}\n".encode()
        assert art.get_object(StoredObject.of(logs["note"])) == {"attempt": 1}
        assert "output" not in logs
        assert second.status is TaskStatus.SUCCEEDED and second.error is None
        assert {a.name for a in second.artifacts} == {"note", "output"}


def test_timeout_kills_the_task(runner: Runner) -> None:
    run = runner.run("faults.py", "timing_out", seconds=30.0)
    assert run.status is RunStatus.FAILED
    task = runner.tasks(run)["sleepy"]
    assert task.status is TaskStatus.FAILED
    assert task.error == "timed out after 0.5s"
    assert run.info.duration_s is not None and run.info.duration_s < 10


def test_resume_reuses_succeeded_tasks_and_reruns_the_failed_step(
    runner: Runner, tmp_path: Path, counts: Path
) -> None:
    marker = tmp_path / "fixed"
    failed = runner.run("faults.py", "failing", n=4, marker=str(marker))
    assert failed.status is RunStatus.FAILED
    assert len(list(counts.iterdir())) == 1  # prepare ran once
    marker.touch()  # "fix" the step
    resumed = runner.resume(failed.id)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.output == 60
    assert resumed.info.origin_run_id == failed.id
    old, new = runner.tasks(failed), runner.tasks(resumed)
    assert new["prepare"].status is TaskStatus.REUSED
    assert new["prepare"].reused_from == old["prepare"].id
    md = runner.stores.metadata
    assert (
        md.find_artifact(resumed.id, "output", new["prepare"].id).digest
        == md.find_artifact(failed.id, "output", old["prepare"].id).digest
    )
    assert new["fragile[2]"].status is TaskStatus.SUCCEEDED
    assert new["total"].status is TaskStatus.SUCCEEDED
    (logs,) = task_logs(runner.stores, resumed.id, "prepare")  # a reused task shows the original's logs
    assert logs.stdout == b"prepare ran\n"
    assert len(list(counts.iterdir())) == 1  # prepare was not recomputed


def test_resume_after_fixing_the_code(runner: Runner, tmp_path: Path) -> None:
    source = (FLOWS / "linear.py").read_text()
    path = tmp_path / "editable.py"
    path.write_text(source.replace("return [2 * x for x in xs]", "raise RuntimeError('bug')"))
    failed = runner.run(path, n=3)
    assert failed.status is RunStatus.FAILED
    path.write_text(source)
    resumed = runner.resume(failed.id)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.output == {"count": 3, "sum": 6}
    assert runner.tasks(resumed)["load"].status is TaskStatus.REUSED


def test_cache_reuses_outputs_of_an_identical_task(runner: Runner, counts: Path) -> None:
    first = runner.run("cached.py", n=5)
    second = runner.run("cached.py", n=5)
    third = runner.run("cached.py", n=6)
    assert first.output == second.output == 10 and third.output == 15
    t1, t2, t3 = (runner.tasks(r)["expensive"] for r in (first, second, third))
    assert t1.status is TaskStatus.SUCCEEDED
    assert t2.status is TaskStatus.CACHED and t2.reused_from == t1.id
    assert t3.status is TaskStatus.SUCCEEDED
    assert len(list(counts.iterdir())) == 2


def test_cache_misses_when_the_step_code_changes(runner: Runner, counts: Path, tmp_path: Path) -> None:
    source = (FLOWS / "cached.py").read_text()
    path = tmp_path / "cached_copy.py"
    path.write_text(source)
    first = runner.run(path, n=3)
    path.write_text(source.replace("return list(range(n))", "return list(range(n))  # changed"))
    second = runner.run(path, n=3)
    assert first.output == second.output == 3
    assert runner.tasks(second)["expensive"].status is TaskStatus.SUCCEEDED
    assert len(list(counts.iterdir())) == 2


def test_a_task_is_running_while_it_runs(runner: Runner, tmp_path: Path) -> None:
    """While a step runs its task record says RUNNING, with the attempt, start time and node."""
    import threading
    import time

    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(runner.run("waiting.py", folder=str(tmp_path))))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (tmp_path / "started").exists(), "the step never started"
        run_id = runner.stores.metadata.search_runs(max_results=1).runs[0].id
        task = next(t for t in runner.stores.metadata.list_tasks(run_id) if t.step == "wait_for")
        assert task.status is TaskStatus.RUNNING
        assert task.attempts == 1 and task.started_at is not None and task.node
    finally:
        (tmp_path / "go").touch()
        thread.join(120)
    (run,) = result
    done = next(iter(runner.tasks(run).values()))  # type: ignore[arg-type]
    assert done.status is TaskStatus.SUCCEEDED and done.ended_at is not None
