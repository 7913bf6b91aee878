"""The MetadataStore contract: every backend (see ``metadata_uri`` in conftest.py) must pass it.

It checks every method and every rule of :mod:`shipyard.metadata.base`'s docstring.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipyard.core.entities import (
    ArtifactRecord,
    CodeVersion,
    LineageEdge,
    Metric,
    Run,
    RunCreate,
    RunStatus,
    Task,
    TaskStatus,
)
from shipyard.core.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from shipyard.core.ids import new_id
from shipyard.metadata import MetadataStore, open_metadata_store

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_run(store: MetadataStore, **kw: Any) -> Run:
    values: dict[str, Any] = {
        "id": new_id(),
        "name": "run",
        "namespace": "user:alice",
        "user": "alice",
        "start_time": T0,
    }
    values.update(kw)
    return store.create_run(RunCreate(**values))


def make_task(run: Run, key: str, **kw: Any) -> Task:
    return Task(id=new_id(), run_id=run.id, step=key.split("[", maxsplit=1)[0], key=key, **kw)


def make_artifact(run: Run, name: str, digest: str = "a" * 64, task: Task | None = None) -> ArtifactRecord:
    return ArtifactRecord(
        id=new_id(),
        run_id=run.id,
        name=name,
        digest=digest,
        size=3,
        serializer="json",
        created_at=T0,
        task_id=task.id if task else None,
        meta={"shape": [1, 2]},
    )


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
    assert got.end_time is None and got.heartbeat_at is None
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
        lambda: metadata_store.heartbeat_run(missing, T0),
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
    fresh = make_run(metadata_store, start_time=T0)
    stale = make_run(metadata_store, start_time=T0)
    never = make_run(metadata_store, start_time=T0)  # no heartbeat: its start time counts
    done = make_run(metadata_store, start_time=T0)
    metadata_store.finish_run(done.id, RunStatus.SUCCEEDED, T0 + timedelta(seconds=1))
    metadata_store.heartbeat_run(fresh.id, T0 + timedelta(minutes=10))
    metadata_store.heartbeat_run(stale.id, T0 + timedelta(minutes=1))
    assert metadata_store.get_run(fresh.id).heartbeat_at == T0 + timedelta(minutes=10)
    pending = make_task(stale, "a")
    running = make_task(stale, "b", status=TaskStatus.RUNNING)
    ok = make_task(stale, "c", status=TaskStatus.SUCCEEDED)
    metadata_store.create_tasks([pending, running, ok])

    failed = metadata_store.fail_stale_runs(T0 + timedelta(minutes=5))

    assert sorted(failed) == sorted([stale.id, never.id])
    for run_id in failed:
        run = metadata_store.get_run(run_id)
        assert run.status is RunStatus.FAILED and run.end_time is not None and run.error
    assert metadata_store.get_run(fresh.id).status is RunStatus.RUNNING
    assert metadata_store.get_run(done.id).status is RunStatus.SUCCEEDED
    statuses = {t.key: t.status for t in metadata_store.list_tasks(stale.id)}
    assert statuses == {"a": TaskStatus.FAILED, "b": TaskStatus.FAILED, "c": TaskStatus.SUCCEEDED}
    assert metadata_store.fail_stale_runs(T0 + timedelta(minutes=5)) == []


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


# ---- artifacts ---------------------------------------------------------------------------------
def test_artifacts_unique_per_run_and_task(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    task = make_task(run, "train")
    metadata_store.create_tasks([task])
    run_level = metadata_store.record_artifact(make_artifact(run, "model", "a" * 64))
    task_level = metadata_store.record_artifact(make_artifact(run, "model", "b" * 64, task=task))
    assert run_level.task_id is None and task_level.task_id == task.id
    assert run_level.meta == {"shape": [1, 2]} and run_level.created_at == T0

    again = metadata_store.record_artifact(make_artifact(run, "model", "a" * 64))  # same digest
    assert again == run_level
    with pytest.raises(ConflictError, match="model"):
        metadata_store.record_artifact(make_artifact(run, "model", "c" * 64))
    metadata_store.update_task(task.id, status=TaskStatus.SUCCEEDED)
    with pytest.raises(ConflictError):  # a succeeded task's outputs are final
        metadata_store.record_artifact(make_artifact(run, "model", "c" * 64, task=task))

    assert metadata_store.find_artifact(run.id, "model") == run_level
    assert metadata_store.find_artifact(run.id, "model", task_id=task.id) == task_level
    assert metadata_store.get_artifact(task_level.id) == task_level
    assert {a.id for a in metadata_store.list_artifacts(run.id)} == {run_level.id, task_level.id}
    assert metadata_store.list_artifacts(run.id, task_id=task.id) == [task_level]
    with pytest.raises(NotFoundError, match="other"):
        metadata_store.find_artifact(run.id, "other")


def test_a_retry_may_rewrite_what_a_failed_attempt_recorded(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    task = make_task(run, "train")
    metadata_store.create_tasks([task])
    first = metadata_store.record_artifact(make_artifact(run, "model", "a" * 64, task=task))
    metadata_store.update_task(task.id, status=TaskStatus.FAILED, attempts=1)
    second = metadata_store.record_artifact(make_artifact(run, "model", "b" * 64, task=task))
    assert second.id == first.id and second.digest == "b" * 64
    assert metadata_store.find_artifact(run.id, "model", task_id=task.id).digest == "b" * 64
    assert len(metadata_store.list_artifacts(run.id, task_id=task.id)) == 1


def test_artifact_fields_round_trip(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    record = ArtifactRecord(
        id=new_id(), run_id=run.id, name="data/train.parquet", digest="d" * 64, size=2**40,
        serializer="pickle", created_at=T0, unsafe=True, meta={"rows": 5, "cols": ["a"]},
    )  # fmt: skip
    assert metadata_store.record_artifact(record) == record
    assert metadata_store.get_artifact(record.id) == record


def test_artifact_for_unknown_task_is_not_found(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    ghost = make_task(run, "ghost")
    with pytest.raises(NotFoundError, match=ghost.id):
        metadata_store.record_artifact(make_artifact(run, "x", task=ghost))


# ---- tasks ---------------------------------------------------------------------------------------
def test_tasks_create_get_list_update(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    created = [
        make_task(run, f"square[{i}]", index=i, spec={"upstream": ["start"], "i": i}) for i in range(5)
    ]
    created.insert(0, make_task(run, "start", cache_key="k0"))
    metadata_store.create_tasks(created)
    assert metadata_store.list_tasks(run.id) == created  # creation order, every field
    assert metadata_store.get_task(created[3].id) == created[3]

    t = created[1]
    updated = metadata_store.update_task(
        t.id, status=TaskStatus.RUNNING, attempts=1, started_at=T0, heartbeat_at=T0, node="host-1"
    )
    assert updated.status is TaskStatus.RUNNING and updated.attempts == 1 and updated.node == "host-1"
    assert updated.started_at == T0 and updated.heartbeat_at == T0
    assert updated.spec == t.spec and updated.error is None
    done = metadata_store.update_task(
        t.id, status=TaskStatus.FAILED, ended_at=T0 + timedelta(seconds=2), error="Traceback...",
        reused_from="x", cache_key="ck",
    )  # fmt: skip
    assert done.status is TaskStatus.FAILED and done.duration_s == 2 and done.error == "Traceback..."
    assert done.reused_from == "x" and done.cache_key == "ck" and done.node == "host-1"  # untouched
    assert metadata_store.update_task(t.id) == done
    assert metadata_store.list_tasks(make_run(metadata_store).id) == []


def test_duplicate_task_key_is_already_exists(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    metadata_store.create_tasks([make_task(run, "a")])
    with pytest.raises(AlreadyExistsError, match="a"):
        metadata_store.create_tasks([make_task(run, "b"), make_task(run, "a")])
    assert [t.key for t in metadata_store.list_tasks(run.id)] == ["a"]  # "b" not written either
    with pytest.raises(AlreadyExistsError):
        metadata_store.create_tasks([make_task(run, "c"), make_task(run, "c")])
    other = make_run(metadata_store)
    metadata_store.create_tasks([make_task(other, "a")])  # keys are unique per run only


def test_create_tasks_for_unknown_run_is_not_found(metadata_store: MetadataStore) -> None:
    ghost = Run(id="f" * 32, name="x", namespace="n", user="u", status=RunStatus.RUNNING, start_time=T0,
                end_time=None, heartbeat_at=None, params={}, tags={}, metrics={})  # fmt: skip
    with pytest.raises(NotFoundError, match="f" * 32):
        metadata_store.create_tasks([make_task(ghost, "a")])


# ---- lineage -------------------------------------------------------------------------------------
def test_lineage_both_directions_and_idempotent(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    producer, c1, c2 = make_task(run, "prep"), make_task(run, "train"), make_task(run, "eval")
    metadata_store.create_tasks([producer, c1, c2])
    data = metadata_store.record_artifact(make_artifact(run, "data", task=producer))
    model = metadata_store.record_artifact(make_artifact(run, "model", "b" * 64, task=c1))
    edges = [
        LineageEdge(c1.id, data.id, "data"),
        LineageEdge(c2.id, data.id, "data"),
        LineageEdge(c2.id, model.id, "model"),
    ]
    metadata_store.record_lineage(edges)
    metadata_store.record_lineage(edges[:2])  # idempotent
    assert metadata_store.task_inputs(c2.id) == [edges[1], edges[2]]
    assert metadata_store.task_inputs(c1.id) == [edges[0]]
    assert metadata_store.task_inputs(producer.id) == []
    assert sorted(metadata_store.artifact_consumers(data.id), key=lambda e: e.task_id) == sorted(
        edges[:2], key=lambda e: e.task_id
    )
    assert metadata_store.artifact_consumers(model.id) == [edges[2]]
    with pytest.raises(NotFoundError):
        metadata_store.record_lineage([LineageEdge(c1.id, "9" * 32, "x")])


def test_find_cached_task(metadata_store: MetadataStore) -> None:
    old_run = make_run(metadata_store, namespace="user:alice")
    new_run = make_run(metadata_store, namespace="user:alice")
    other_ns = make_run(metadata_store, namespace="user:bob")
    old = make_task(old_run, "train", cache_key="k1", status=TaskStatus.SUCCEEDED, ended_at=T0)
    new = make_task(new_run, "train", cache_key="k1", status=TaskStatus.SUCCEEDED,
                    ended_at=T0 + timedelta(hours=1))  # fmt: skip
    failed = make_task(new_run, "train[1]", cache_key="k1", status=TaskStatus.FAILED,
                       ended_at=T0 + timedelta(hours=2))  # fmt: skip
    bob = make_task(other_ns, "train", cache_key="k2", status=TaskStatus.SUCCEEDED, ended_at=T0)
    metadata_store.create_tasks([old, new, failed, bob])
    failed_step = metadata_store.update_task(failed.id, status=TaskStatus.FAILED)
    assert failed_step.step == "train"
    assert metadata_store.find_cached_task("user:alice", "train", "k1") == new
    assert metadata_store.find_cached_task("user:alice", "train", "k2") is None  # other namespace
    assert metadata_store.find_cached_task("user:bob", "train", "k2") == bob
    assert metadata_store.find_cached_task("user:alice", "eval", "k1") is None
    assert metadata_store.find_cached_task("user:alice", "train", "nope") is None


# ---- search ----------------------------------------------------------------------------------------
def ids(runs: list[Run]) -> list[str]:
    return [r.id for r in runs]


@pytest.fixture
def populated(metadata_store: MetadataStore) -> dict[str, Run]:
    """Five runs with varied params, metrics and tags; start times one minute apart."""
    specs: list[dict[str, Any]] = [
        {"name": "rf-1", "params": {"model": "rf", "n": 100}, "tags": {"stage": "dev"}, "acc": 0.7},
        {"name": "rf-2", "params": {"model": "rf", "n": "100"}, "tags": {"stage": "prod"}, "acc": 0.95},
        {"name": "lr-1", "params": {"model": "lr", "n": 10}, "tags": {"stage": "dev"}, "acc": 0.91},
        {"name": "lr-2", "params": {"model": "LR", "n": 1.5}, "tags": {}, "acc": None},
        {"name": "xgb", "params": {"model": "xgb", "flag": True}, "tags": {"stage": "dev"}, "acc": 0.5,
         "namespace": "user:bob", "flow_name": "train"},
    ]  # fmt: skip
    runs: dict[str, Run] = {}
    for i, spec in enumerate(specs):
        run = make_run(
            metadata_store,
            name=spec["name"],
            params=spec["params"],
            tags=spec["tags"],
            namespace=spec.get("namespace", "user:alice"),
            user=spec.get("namespace", "user:alice").split(":")[1],
            flow_name=spec.get("flow_name"),
            start_time=T0 + timedelta(minutes=i),
        )
        if spec["acc"] is not None:
            metadata_store.log_metrics(
                run.id, [Metric("acc", spec["acc"], 1, 1), Metric("train/loss", 1 - i / 10)]
            )
        runs[spec["name"]] = run
    metadata_store.finish_run(runs["rf-1"].id, RunStatus.SUCCEEDED, T0 + timedelta(hours=1))
    metadata_store.finish_run(runs["lr-1"].id, RunStatus.FAILED, T0 + timedelta(hours=1), error="x")
    return runs


def names(page: list[Run]) -> list[str]:
    return [r.name for r in page]


def test_search_default_order_is_newest_first_and_loads_everything(
    metadata_store: MetadataStore, populated: dict[str, Run]
) -> None:
    page = metadata_store.search_runs()
    assert names(page.runs) == ["xgb", "lr-2", "lr-1", "rf-2", "rf-1"]
    assert page.next_offset is None and page.total == 5
    first = page.runs[-1]
    assert first.params == {"model": "rf", "n": 100} and first.tags == {"stage": "dev"}
    assert first.metrics == {"acc": 0.7, "train/loss": 1.0} and first.status is RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ("metrics.acc > 0.9", ["lr-1", "rf-2"]),
        ("metrics.acc >= 0.91 and metrics.acc <= 0.91", ["lr-1"]),
        ("metrics.acc != 0.7", ["xgb", "lr-1", "rf-2"]),
        ('metrics."train/loss" < 0.85', ["xgb", "lr-1"]),
        ("metrics.`train/loss` < 0.85", ["xgb", "lr-1"]),
        ("params.model = 'rf'", ["rf-2", "rf-1"]),
        ('params.model = "rf"', ["rf-2", "rf-1"]),
        ("params.model != 'rf'", ["xgb", "lr-2", "lr-1"]),
        ("params.n = 100", ["rf-2", "rf-1"]),
        ("params.n = '100'", ["rf-2", "rf-1"]),
        ("params.n > 5", ["lr-1", "rf-2", "rf-1"]),
        ("params.n < 2", ["lr-2"]),
        ("params.flag = true", ["xgb"]),
        ("params.model LIKE 'l%'", ["lr-1"]),
        ("params.model ILIKE 'l%'", ["lr-2", "lr-1"]),
        ("params.model IN ('rf', 'xgb')", ["xgb", "rf-2", "rf-1"]),
        ("params.model NOT IN ('rf', 'xgb')", ["lr-2", "lr-1"]),
        ("tags.stage = 'dev'", ["xgb", "lr-1", "rf-1"]),
        ("tags.stage != 'dev'", ["rf-2"]),
        ("metrics.acc > 0.9 and params.model = 'rf' and tags.stage = 'prod'", ["rf-2"]),
        ("metrics.acc > 0.9 or tags.stage = 'prod'", ["lr-1", "rf-2"]),
        ("(params.model = 'xgb' or params.model = 'lr') and tags.stage = 'dev'", ["xgb", "lr-1"]),
        ("name = 'rf-1'", ["rf-1"]),
        ("name LIKE 'rf-%'", ["rf-2", "rf-1"]),
        ("name ILIKE 'RF-%'", ["rf-2", "rf-1"]),
        ("name LIKE 'RF-%'", []),
        ("status = 'failed'", ["lr-1"]),
        ("status IN ('succeeded', 'failed')", ["lr-1", "rf-1"]),
        ("attributes.status = 'RUNNING'", ["xgb", "lr-2", "rf-2"]),
        ("user = 'bob'", ["xgb"]),
        ("namespace = 'user:bob'", ["xgb"]),
        ("flow = 'train'", ["xgb"]),
        ("start_time >= '2024-05-01T12:03:00+00:00'", ["xgb", "lr-2"]),
        ("start_time < '2024-05-01T12:01:00Z'", ["rf-1"]),
        (f"start_time < {int((T0 + timedelta(seconds=30)).timestamp() * 1000)}", ["rf-1"]),
        ("METRICS.acc > 0.9 AND Params.model = 'rf'", ["rf-2"]),
        ("params.missing = 'x'", []),
        ("", ["xgb", "lr-2", "lr-1", "rf-2", "rf-1"]),
    ],
)
def test_search_filters(
    metadata_store: MetadataStore, populated: dict[str, Run], filter: str, expected: list[str]
) -> None:
    assert names(metadata_store.search_runs(filter=filter).runs) == expected


def test_search_by_id(metadata_store: MetadataStore, populated: dict[str, Run]) -> None:
    run = populated["lr-2"]
    assert ids(metadata_store.search_runs(filter=f"id = '{run.id}'").runs) == [run.id]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.acc DESC"], ["rf-2", "lr-1", "rf-1", "xgb", "lr-2"]),  # no metric: last
        (["metrics.acc ASC"], ["xgb", "rf-1", "lr-1", "rf-2", "lr-2"]),
        (["metrics.acc"], ["xgb", "rf-1", "lr-1", "rf-2", "lr-2"]),
        (["params.n"], ["lr-2", "lr-1", "rf-2", "rf-1", "xgb"]),  # ties: newest first
        (["name"], ["lr-1", "lr-2", "rf-1", "rf-2", "xgb"]),
        (["name DESC"], ["xgb", "rf-2", "rf-1", "lr-2", "lr-1"]),
        (["start_time ASC"], ["rf-1", "rf-2", "lr-1", "lr-2", "xgb"]),
        (["tags.stage", "name DESC"], ["xgb", "rf-1", "lr-1", "rf-2", "lr-2"]),
        (["status", "start_time"], ["lr-1", "rf-2", "lr-2", "xgb", "rf-1"]),
    ],
)
def test_search_order_by(
    metadata_store: MetadataStore, populated: dict[str, Run], order_by: list[str], expected: list[str]
) -> None:
    assert names(metadata_store.search_runs(order_by=order_by).runs) == expected


def test_search_pagination(metadata_store: MetadataStore, populated: dict[str, Run]) -> None:
    first = metadata_store.search_runs(max_results=2, order_by=["name"])
    assert names(first.runs) == ["lr-1", "lr-2"] and first.next_offset == 2
    second = metadata_store.search_runs(max_results=2, order_by=["name"], offset=first.next_offset or 0)
    assert names(second.runs) == ["rf-1", "rf-2"] and second.next_offset == 4
    last = metadata_store.search_runs(max_results=2, order_by=["name"], offset=4)
    assert names(last.runs) == ["xgb"] and last.next_offset is None and last.total == 5
    exact = metadata_store.search_runs(max_results=5)
    assert len(exact.runs) == 5 and exact.next_offset is None
    assert metadata_store.search_runs(offset=10).runs == []
    assert metadata_store.count_runs() == 5
    assert metadata_store.count_runs(filter="metrics.acc > 0.9") == 2
    assert metadata_store.count_runs(namespaces=["user:bob"]) == 1


def test_search_namespaces_flow_and_statuses(
    metadata_store: MetadataStore, populated: dict[str, Run]
) -> None:
    assert names(metadata_store.search_runs(namespaces=["user:bob"]).runs) == ["xgb"]
    assert len(metadata_store.search_runs(namespaces=["user:alice"]).runs) == 4
    assert len(metadata_store.search_runs(namespaces=["user:alice", "user:bob"]).runs) == 5
    assert metadata_store.search_runs(namespaces=[]).runs == []
    assert metadata_store.search_runs(namespaces=["user:carol"]).runs == []
    assert names(metadata_store.search_runs(flow_name="train").runs) == ["xgb"]
    assert names(metadata_store.search_runs(statuses=[RunStatus.FAILED, RunStatus.SUCCEEDED]).runs) == [
        "lr-1",
        "rf-1",
    ]
    page = metadata_store.search_runs(
        namespaces=["user:alice"], statuses=[RunStatus.RUNNING], filter="metrics.acc > 0"
    )
    assert names(page.runs) == ["rf-2"]


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ("metrics.acc >", "expected a value"),
        ("metrics.acc > 'high'", "number"),
        ("colour = 'red'", "unknown field 'colour'"),
        ("foo.bar = 1", "unknown field prefix 'foo'"),
        ("metrics.acc ~ 1", "unexpected character '~'"),
        ("metrics.acc = 1 metrics.b = 2", "and"),
        ("name = 'unterminated", "unterminated"),
        ("params.x = ''; drop table runs; --", "unexpected character ';'"),
        ("params.x = 1 or 1=1", "expected a field"),
        ("(metrics.acc > 1", "')'"),
        ("metrics.acc > 1)", "unmatched ')'"),
        ("status = 'done'", "valid statuses"),
        ("name = 5", "quote the value"),
        ("start_time > 'yesterday'", "ISO-8601"),
        ("metrics.acc LIKE 'a%'", "LIKE works on strings"),
        ("params.flag > true", "true/false"),
    ],
)
def test_search_filter_errors_are_clear(metadata_store: MetadataStore, filter: str, message: str) -> None:
    make_run(metadata_store)
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        metadata_store.search_runs(filter=filter)
    assert len(metadata_store.search_runs().runs) == 1  # nothing was executed, nothing dropped


@pytest.mark.parametrize("order_by", [["colour"], ["metrics.acc SIDEWAYS"], ["metrics"], ["name ASC DESC"]])
def test_search_order_by_errors(metadata_store: MetadataStore, order_by: list[str]) -> None:
    with pytest.raises(InvalidInputError):
        metadata_store.search_runs(order_by=order_by)


def test_search_argument_errors(metadata_store: MetadataStore) -> None:
    with pytest.raises(InvalidInputError):
        metadata_store.search_runs(max_results=0)
    with pytest.raises(InvalidInputError):
        metadata_store.search_runs(offset=-1)


def test_filter_values_are_bound_not_formatted(metadata_store: MetadataStore) -> None:
    make_run(metadata_store, params={"q": "it's"}, tags={"sql": "'; drop table runs; --"})
    assert len(metadata_store.search_runs(filter="params.q = 'it''s'").runs) == 1
    assert len(metadata_store.search_runs(filter="tags.sql = '''; drop table runs; --'").runs) == 1
    assert len(metadata_store.search_runs().runs) == 1


# ---- concurrency -----------------------------------------------------------------------------------
def test_threads_logging_metrics_at_once(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for batch in range(10):
                points = [Metric(f"w{worker}", float(batch * 50 + i), batch * 50 + i, i) for i in range(50)]
                metadata_store.log_metrics(run.id, points)
                metadata_store.set_tags(run.id, {f"w{worker}": str(batch)})
                metadata_store.log_params(run.id, {"shared": 1, f"p{worker}": batch if batch == 0 else 0})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = metadata_store.get_run(run.id)
    assert got.metrics == {f"w{w}": 499.0 for w in range(6)}
    assert got.tags == {f"w{w}": "9" for w in range(6)}
    for w in range(6):
        assert len(metadata_store.get_metric_history(run.id, f"w{w}")) == 500


_WORKER = textwrap.dedent(
    """
    import sys
    from shipyard.core.entities import Metric, Task
    from shipyard.metadata import open_metadata_store

    uri, run_id, worker = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = open_metadata_store(uri)
    try:
        for batch in range(20):
            store.log_metrics(run_id, [Metric("m", float(i), batch * 100 + i, 0) for i in range(100)])
            store.create_tasks([Task(id=f"{worker:02d}{batch:030d}", run_id=run_id, step="s",
                                     key=f"s[{worker}][{batch}]")])
            store.set_tags(run_id, {f"w{worker}": str(batch)})
    finally:
        store.close()
    """
)


def test_processes_writing_the_same_database(metadata_store: MetadataStore, metadata_uri: str) -> None:
    run = make_run(metadata_store)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, metadata_uri, run.id, str(w)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    assert len(metadata_store.get_metric_history(run.id, "m")) == 3 * 20 * 100
    assert len(metadata_store.list_tasks(run.id)) == 60
    assert metadata_store.get_run(run.id).tags == {"w0": "19", "w1": "19", "w2": "19"}


def test_two_stores_on_one_database_see_each_other(metadata_uri: str) -> None:
    a, b = open_metadata_store(metadata_uri), open_metadata_store(metadata_uri)
    try:
        run = make_run(a)
        b.log_metrics(run.id, [Metric("x", 1.0)])
        assert a.get_run(run.id).metrics == {"x": 1.0}
    finally:
        a.close()
        b.close()
        b.close()  # idempotent
