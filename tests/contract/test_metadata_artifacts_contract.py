"""The MetadataStore contract, part 2: artifact records, tasks and lineage (every backend)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shipyard.core.entities import (
    ArtifactRecord,
    LineageEdge,
    Run,
    RunStatus,
    TaskStatus,
)
from shipyard.core.errors import AlreadyExistsError, ConflictError, NotFoundError
from shipyard.core.ids import new_id
from shipyard.metadata import MetadataStore
from tests.contract.metadata_helpers import T0, make_artifact, make_run, make_task


@pytest.fixture
def metadata_store(run_path_store: MetadataStore) -> MetadataStore:
    """Every backend plus the run path's stdlib SQLite store (conftest's RUN_PATH_BACKENDS)."""
    return run_path_store


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


def test_a_retry_records_again_what_a_failed_attempt_recorded(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    task = make_task(run, "train")
    metadata_store.create_tasks([task])
    metadata_store.update_task(task.id, status=TaskStatus.RUNNING, attempts=1)
    first = metadata_store.record_artifact(make_artifact(run, "model", "a" * 64, task=task))
    again = metadata_store.record_artifact(make_artifact(run, "model", "c" * 64, task=task))
    assert again.id == first.id and again.digest == "c" * 64  # one attempt may rewrite its own
    metadata_store.update_task(task.id, status=TaskStatus.FAILED, attempts=1)
    metadata_store.update_task(task.id, status=TaskStatus.RUNNING, attempts=2)
    second = metadata_store.record_artifact(make_artifact(run, "model", "b" * 64, task=task))
    assert second.digest == "b" * 64 and second.attempt == 2
    assert metadata_store.find_artifact(run.id, "model", task_id=task.id) == second
    assert metadata_store.list_artifacts(run.id, task_id=task.id) == [second]


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
