"""The MetadataStore contract: every backend (see ``metadata_uri`` in conftest.py) must pass it.

It checks every method and every rule of :mod:`shipyard.metadata.base`'s docstring.

This file: runs, params, metrics and tags; the other test_metadata_*_contract.py files cover the
rest (artifacts/tasks/lineage, search, concurrency).
"""

from __future__ import annotations

import math
import time
from datetime import timedelta

import pytest

from shipyard.core.entities import (
    CodeVersion,
    LineageEdge,
    Metric,
    RunStatus,
    TaskStatus,
)
from shipyard.core.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from shipyard.metadata import MetadataStore
from tests.contract.metadata_helpers import T0, ids, make_artifact, make_run, make_task


@pytest.fixture
def metadata_store(run_path_store: MetadataStore) -> MetadataStore:
    """Every backend plus the run path's stdlib SQLite store (conftest's RUN_PATH_BACKENDS)."""
    return run_path_store


# ---- runs --------------------------------------------------------------------------------------
def test_create_and_get_run_round_trips_every_field(metadata_store: MetadataStore) -> None:
    cv = CodeVersion(git_commit="abc", git_dirty=True, source_hash="f" * 64, source_files=("flow.py", "a.py"))
    created = make_run(
        metadata_store,
        name="exp-1",
        params={
            "lr": 0.01,
            "layers": [64, 32],
            "opt": {"name": "adam", "beta": 0.9},
            "flag": True,
            "none": None,
        },
        tags={"stage": "dev"},
        flow_name="train",
        flow_spec={"file": "flow.py", "function": "train"},
        code_version=cv,
        origin_run_id="origin",
    )
    got = metadata_store.get_run(created.id)
    assert got == created
    assert got.status is RunStatus.RUNNING
    assert got.start_time == T0 and got.start_time.tzinfo is not None
    assert got.end_time is None
    assert got.heartbeat_at is not None and got.heartbeat_at > T0  # the store's clock, not start_time
    assert got.params == {"lr": 0.01, "layers": [64, 32], "opt": {"name": "adam", "beta": 0.9}, "flag": True,
                          "none": None}  # fmt: skip
    assert isinstance(got.params["flag"], bool)
    assert got.tags == {"stage": "dev"}
    assert got.metrics == {}
    assert got.flow_name == "train" and got.flow_spec == {"file": "flow.py", "function": "train"}
    assert got.code_version == cv
    assert got.origin_run_id == "origin"


def test_duplicate_run_id_is_already_exists(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    with pytest.raises(AlreadyExistsError, match=run.id):
        make_run(metadata_store, id=run.id)


def test_unknown_ids_raise_not_found_naming_the_id(metadata_store: MetadataStore) -> None:
    missing = "0" * 32
    calls = [
        lambda: metadata_store.get_run(missing),
        lambda: metadata_store.finish_run(missing, RunStatus.SUCCEEDED, T0),
        lambda: metadata_store.heartbeat_run(missing),
        lambda: metadata_store.delete_run(missing),
        lambda: metadata_store.log_params(missing, {"a": 1}),
        lambda: metadata_store.log_metrics(missing, [Metric("a", 1.0)]),
        lambda: metadata_store.get_metric_history(missing, "a"),
        lambda: metadata_store.set_tags(missing, {"a": "b"}),
        lambda: metadata_store.delete_tag(missing, "a"),
        lambda: metadata_store.list_artifacts(missing),
        lambda: metadata_store.get_artifact(missing),
        lambda: metadata_store.find_artifact(missing, "model"),
        lambda: metadata_store.get_task(missing),
        lambda: metadata_store.list_tasks(missing),
        lambda: metadata_store.update_task(missing, status=TaskStatus.RUNNING),
        lambda: metadata_store.task_inputs(missing),
        lambda: metadata_store.artifact_consumers(missing),
    ]
    for call in calls:
        with pytest.raises(NotFoundError, match=missing):
            call()


def test_find_run_ids_by_prefix(metadata_store: MetadataStore) -> None:
    a = make_run(metadata_store, id="abc123" + "0" * 26)
    b = make_run(metadata_store, id="abc456" + "0" * 26)
    make_run(metadata_store, id="def000" + "0" * 26)
    assert metadata_store.find_run_ids("abc1") == [a.id]
    assert sorted(metadata_store.find_run_ids("abc", limit=5)) == sorted([a.id, b.id])
    assert len(metadata_store.find_run_ids("abc", limit=1)) == 1
    assert metadata_store.find_run_ids("zzz") == []
    assert metadata_store.find_run_ids("a%") == []  # LIKE wildcards are literal


def test_finish_run_keeps_the_first_outcome(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    end = T0 + timedelta(seconds=90)
    finished = metadata_store.finish_run(run.id, RunStatus.FAILED, end, error="boom")
    assert finished.status is RunStatus.FAILED and finished.end_time == end and finished.error == "boom"
    assert finished.duration_s == 90
    again = metadata_store.finish_run(run.id, RunStatus.SUCCEEDED, end + timedelta(seconds=5))
    assert again.status is RunStatus.FAILED and again.end_time == end and again.error == "boom"


def test_finish_run_with_running_status_is_invalid(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    with pytest.raises(InvalidInputError):
        metadata_store.finish_run(run.id, RunStatus.RUNNING, T0)


def test_heartbeat_and_fail_stale_runs(metadata_store: MetadataStore) -> None:
    # every start_time is years in the past on the client's clock: only the store's clock counts
    stale = make_run(metadata_store, start_time=T0)
    never = make_run(metadata_store, start_time=T0)  # no heartbeat: its creation counts
    done = make_run(metadata_store, start_time=T0)
    metadata_store.finish_run(done.id, RunStatus.SUCCEEDED, T0 + timedelta(seconds=1))
    metadata_store.heartbeat_run(stale.id)
    pending = make_task(stale, "a")
    running = make_task(stale, "b", status=TaskStatus.RUNNING)
    ok = make_task(stale, "c", status=TaskStatus.SUCCEEDED)
    metadata_store.create_tasks([pending, running, ok])
    first_beat = metadata_store.get_run(stale.id).heartbeat_at
    assert metadata_store.fail_stale_runs(60.0) == []  # created and beaten just now
    time.sleep(2.2)  # the threshold below (2 s) is also how late the checks may run on a busy machine
    fresh = make_run(metadata_store, start_time=T0)
    metadata_store.heartbeat_run(fresh.id)
    beat = metadata_store.get_run(fresh.id).heartbeat_at
    assert first_beat is not None and beat is not None and beat - first_beat >= timedelta(seconds=2.1)

    failed = metadata_store.fail_stale_runs(2.0)

    assert sorted(failed) == sorted([stale.id, never.id])
    for run_id in failed:
        run = metadata_store.get_run(run_id)
        assert run.status is RunStatus.FAILED and run.end_time is not None and run.error
        assert "no heartbeat for 2s" in run.error
    assert metadata_store.get_run(fresh.id).status is RunStatus.RUNNING
    assert metadata_store.get_run(done.id).status is RunStatus.SUCCEEDED
    statuses = {t.key: t.status for t in metadata_store.list_tasks(stale.id)}
    assert statuses == {"a": TaskStatus.FAILED, "b": TaskStatus.FAILED, "c": TaskStatus.SUCCEEDED}
    assert not set(metadata_store.fail_stale_runs(2.0)) & {stale.id, never.id}  # failed once only


def test_fail_stale_runs_needs_a_positive_timeout(metadata_store: MetadataStore) -> None:
    with pytest.raises(InvalidInputError, match="timeout_s"):
        metadata_store.fail_stale_runs(0)


def test_delete_run_cascades(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store, params={"a": 1}, tags={"t": "x"})
    other = make_run(metadata_store)
    metadata_store.log_metrics(run.id, [Metric("m", 1.0, 0, 1)])
    task = make_task(run, "train")
    consumer = make_task(other, "eval")
    metadata_store.create_tasks([task, consumer])
    art = metadata_store.record_artifact(make_artifact(run, "model", task=task))
    metadata_store.record_lineage([LineageEdge(consumer.id, art.id, "model")])

    metadata_store.delete_run(run.id)

    with pytest.raises(NotFoundError):
        metadata_store.get_run(run.id)
    with pytest.raises(NotFoundError):
        metadata_store.get_task(task.id)
    with pytest.raises(NotFoundError):
        metadata_store.get_artifact(art.id)
    assert metadata_store.task_inputs(consumer.id) == []
    assert metadata_store.get_run(other.id).id == other.id
    with pytest.raises(NotFoundError):
        metadata_store.delete_run(run.id)
    make_run(metadata_store, id=run.id)  # the id is free again, with nothing left under it
    assert metadata_store.get_run(run.id).params == {}
    assert metadata_store.get_metric_history(run.id, "m") == []


# ---- params ----------------------------------------------------------------------------------
def test_params_are_write_once(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store, params={"lr": 0.1})
    metadata_store.log_params(run.id, {"lr": 0.1, "depth": 3})  # same value again: fine
    with pytest.raises(ConflictError, match="lr"):
        metadata_store.log_params(run.id, {"new": "x", "lr": 0.2})
    assert metadata_store.get_run(run.id).params == {"lr": 0.1, "depth": 3}  # "new" not written


def test_param_dict_values_compare_by_content(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store, params={"opt": {"a": 1, "b": 2}})
    metadata_store.log_params(run.id, {"opt": {"b": 2, "a": 1}})
    with pytest.raises(ConflictError):
        metadata_store.log_params(run.id, {"opt": {"a": 1}})


def test_param_values_come_back_typed(metadata_store: MetadataStore) -> None:
    values = {"s": "100", "i": 100, "f": 1.5, "b": False, "n": None, "l": [1, "a"], "d": {"k": [True]}}
    run = make_run(metadata_store)
    metadata_store.log_params(run.id, values)
    got = metadata_store.get_run(run.id).params
    assert got == values
    assert isinstance(got["s"], str) and isinstance(got["i"], int) and isinstance(got["b"], bool)


def test_param_that_is_not_json_is_invalid(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    with pytest.raises(InvalidInputError, match="bad"):
        metadata_store.log_params(run.id, {"ok": 1, "bad": object()})
    assert metadata_store.get_run(run.id).params == {}


def test_invalid_keys_are_rejected(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    with pytest.raises(InvalidInputError):
        metadata_store.log_params(run.id, {"../x": 1})
    with pytest.raises(InvalidInputError):
        metadata_store.log_metrics(run.id, [Metric("bad\x00key", 1.0)])
    with pytest.raises(InvalidInputError):
        metadata_store.set_tags(run.id, {"": "x"})


# ---- metrics ---------------------------------------------------------------------------------
def test_metric_history_is_ordered_by_step_then_timestamp(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    metadata_store.log_metrics(run.id, [Metric("loss", 0.3, 2, 30), Metric("loss", 0.5, 1, 20)])
    metadata_store.log_metrics(run.id, [Metric("loss", 0.4, 1, 10), Metric("acc", 0.9, 5, 1)])
    history = metadata_store.get_metric_history(run.id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [(1, 10, 0.4), (1, 20, 0.5), (2, 30, 0.3)]
    assert all(m.key == "loss" for m in history)
    assert metadata_store.get_metric_history(run.id, "nothing") == []


def test_latest_metric_is_highest_step_then_latest_timestamp(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    metadata_store.log_metrics(run.id, [Metric("a", 1.0, 5, 100), Metric("a", 2.0, 3, 999)])
    assert metadata_store.get_run(run.id).metrics == {"a": 1.0}
    metadata_store.log_metrics(run.id, [Metric("a", 3.0, 4, 2000)])  # lower step, later time: not latest
    assert metadata_store.get_run(run.id).metrics == {"a": 1.0}
    metadata_store.log_metrics(run.id, [Metric("a", 4.0, 5, 101)])  # same step, later time: latest
    assert metadata_store.get_run(run.id).metrics == {"a": 4.0}
    metadata_store.log_metrics(run.id, [Metric("a", 5.0, 6, 0), Metric("b", -1.0)])
    assert metadata_store.get_run(run.id).metrics == {"a": 5.0, "b": -1.0}


def test_nan_and_inf_are_stored_faithfully(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    points = [
        Metric("x", math.nan, 0, 1),
        Metric("x", math.inf, 1, 2),
        Metric("x", -math.inf, 2, 3),
        Metric("x", 0.0, 3, 4),
        Metric("y", math.nan, 0, 1),
        Metric("z", math.inf, 0, 1),
    ]
    metadata_store.log_metrics(run.id, points)
    values = [m.value for m in metadata_store.get_metric_history(run.id, "x")]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 0.0]
    latest = metadata_store.get_run(run.id).metrics
    assert latest["x"] == 0.0 and math.isnan(latest["y"]) and latest["z"] == math.inf
    # NaN never satisfies a comparison; inf compares as a number
    assert ids(metadata_store.search_runs(filter="metrics.y > 0").runs) == []
    assert ids(metadata_store.search_runs(filter="metrics.y < 0").runs) == []
    assert ids(metadata_store.search_runs(filter="metrics.z > 1e300").runs) == [run.id]


def test_log_metrics_rejects_non_numbers(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    with pytest.raises(InvalidInputError, match="acc"):
        metadata_store.log_metrics(run.id, [Metric("acc", 1.0), Metric("acc", "high")])  # type: ignore[arg-type]
    assert metadata_store.get_metric_history(run.id, "acc") == []


def test_empty_metric_batch_is_a_no_op(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    metadata_store.log_metrics(run.id, [])
    assert metadata_store.get_run(run.id).metrics == {}


# ---- tags -------------------------------------------------------------------------------------
def test_tags_set_overwrite_delete(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store, tags={"a": "1"})
    metadata_store.set_tags(run.id, {"a": "2", "b": "x"})
    assert metadata_store.get_run(run.id).tags == {"a": "2", "b": "x"}
    metadata_store.delete_tag(run.id, "a")
    assert metadata_store.get_run(run.id).tags == {"b": "x"}
    with pytest.raises(NotFoundError, match="a"):
        metadata_store.delete_tag(run.id, "a")
