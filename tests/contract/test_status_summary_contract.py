"""The ``status_summary`` contract (runs and tasks by status, what RUNNING tasks hold) and
``task_timing``, over every metadata backend: SQLite, Postgres and a shipyard server (REST)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.metadata import MetadataStore
from shipyard.metadata.sql.store import SqlMetadataStore
from tests.contract.metadata_helpers import T0, make_run, make_task


def _opts(cpu: object = 0.0, memory_mb: object = 0, gpu: object = 0) -> dict[str, object]:
    return {"opts": {"resources": {"cpu": cpu, "memory_mb": memory_mb, "gpu": gpu}}}


def test_an_empty_store_counts_zero_for_every_status(metadata_store: MetadataStore) -> None:
    summary = metadata_store.status_summary()
    assert summary.runs_by_status == dict.fromkeys((s.value for s in RunStatus), 0)
    assert summary.tasks_by_status == dict.fromkeys((s.value for s in TaskStatus), 0)
    assert (summary.running_cpu, summary.running_memory_mb, summary.running_gpu) == (0.0, 0, 0)
    assert summary.running_by_node == {}


def test_runs_and_tasks_are_counted_by_status(metadata_store: MetadataStore) -> None:
    store = metadata_store
    runs = [make_run(store, name=f"r{i}") for i in range(4)]
    store.finish_run(runs[0].id, RunStatus.SUCCEEDED, T0 + timedelta(minutes=1))
    store.finish_run(runs[1].id, RunStatus.FAILED, T0 + timedelta(minutes=1), error="boom")
    store.create_tasks([
        make_task(runs[2], "a", status=TaskStatus.SUCCEEDED),
        make_task(runs[2], "b", status=TaskStatus.PENDING),
        make_task(runs[3], "c", status=TaskStatus.PENDING),
        make_task(runs[3], "d", status=TaskStatus.CACHED),
    ])  # fmt: skip
    summary = store.status_summary()
    assert summary.runs_by_status == {"running": 2, "succeeded": 1, "failed": 1, "cancelled": 0}
    assert summary.tasks_by_status["pending"] == 2
    assert summary.tasks_by_status["succeeded"] == 1 and summary.tasks_by_status["cached"] == 1
    assert sum(summary.tasks_by_status.values()) == 4


def test_running_tasks_add_up_their_resources_per_node(metadata_store: MetadataStore) -> None:
    store = metadata_store
    run = make_run(store)
    running = TaskStatus.RUNNING
    store.create_tasks([
        make_task(run, "train[0]", status=running, node="gpu-1", spec=_opts(2.5, 4096, 1)),
        make_task(run, "train[1]", status=running, node="gpu-1", spec=_opts(1, 1024, 1)),
        make_task(run, "prep", status=running, node="cpu-1", spec={"opts": {}}),  # asks for nothing
        make_task(run, "odd", status=running, node="cpu-1", spec=_opts("lots", None, -3)),  # not numbers
        make_task(run, "later", status=TaskStatus.PENDING, spec=_opts(8, 8192, 4)),  # not running
        make_task(run, "nowhere", status=running),  # no node yet
    ])  # fmt: skip
    summary = store.status_summary()
    assert summary.tasks_by_status["running"] == 5
    assert summary.running_cpu == 3.5
    assert (summary.running_memory_mb, summary.running_gpu) == (5120, 2)
    assert summary.running_by_node == {"gpu-1": 2, "cpu-1": 2, "-": 1}
    [task] = [t for t in store.list_tasks(run.id) if t.key == "train[1]"]
    store.update_task(task.id, status=TaskStatus.SUCCEEDED)  # its slot is free again
    after = store.status_summary()
    assert (after.running_cpu, after.running_memory_mb, after.running_gpu) == (2.5, 4096, 1)
    assert after.running_by_node["gpu-1"] == 1


def test_hidden_projects_leave_out_their_runs_and_tasks(metadata_store: MetadataStore) -> None:
    store = metadata_store
    mine = make_run(store, namespace="project:open")
    secret = make_run(store, namespace="project:secret")
    store.create_tasks([
        make_task(mine, "a", status=TaskStatus.RUNNING, node="n", spec=_opts(1, 10, 0)),
        make_task(secret, "b", status=TaskStatus.RUNNING, node="hidden-node", spec=_opts(4, 40, 1)),
    ])  # fmt: skip
    assert store.status_summary().runs_by_status["running"] == 2
    summary = store.status_summary(hidden_projects=["secret"])
    assert summary.runs_by_status["running"] == 1
    assert summary.tasks_by_status["running"] == 1
    assert (summary.running_cpu, summary.running_memory_mb, summary.running_gpu) == (1.0, 10, 0)
    assert summary.running_by_node == {"n": 1}


def test_task_timing_names_the_flow_and_creation_time(metadata_store: MetadataStore) -> None:
    store = metadata_store
    run = make_run(store, flow_name="train_flow")
    task = make_task(run, "fit")
    before = datetime.now(UTC)
    store.create_tasks([task])
    after = datetime.now(UTC)
    timing = store.task_timing(task.id)
    if isinstance(store, SqlMetadataStore):  # the REST client cannot tell cheaply: None
        assert timing is not None
    if timing is not None:
        assert timing.flow_name == "train_flow"
        assert before - timedelta(seconds=1) <= timing.created_at <= after + timedelta(seconds=1)
    assert store.task_timing("no-such-task") is None
