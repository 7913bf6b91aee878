"""The MetadataStore contract, attempts: each attempt of a task is kept with what it recorded, and
only the running or succeeded attempt's artifacts are the task's outputs (every backend)."""

from __future__ import annotations

import pytest

from shipyard.core.entities import TaskStatus
from shipyard.core.errors import ConfigurationError, NotFoundError
from shipyard.metadata import MetadataStore
from tests.contract.metadata_helpers import T0, make_artifact, make_run, make_task


@pytest.fixture
def metadata_store(run_path_store: MetadataStore) -> MetadataStore:
    """Every backend plus the run path's stdlib SQLite store (conftest's RUN_PATH_BACKENDS)."""
    return run_path_store


def _names(records: list[object]) -> set[str]:
    return {r.name for r in records}  # type: ignore[attr-defined]


def test_a_failed_task_exposes_no_output_but_keeps_it_as_its_attempts(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    task = make_task(run, "train")
    metadata_store.create_tasks([task])
    metadata_store.update_task(task.id, status=TaskStatus.RUNNING, attempts=1, started_at=T0, node="n1")
    output = metadata_store.record_artifact(make_artifact(run, "output", "a" * 64, task=task))
    metadata_store.record_artifact(make_artifact(run, "logs/stdout", "b" * 64, task=task))
    assert output.attempt == 1
    metadata_store.update_task(task.id, status=TaskStatus.FAILED, ended_at=T0, error="boom")

    with pytest.raises(NotFoundError, match="output"):
        metadata_store.find_artifact(run.id, "output", task_id=task.id)
    assert metadata_store.list_artifacts(run.id, task_id=task.id) == []
    assert metadata_store.list_artifacts(run.id) == []
    (attempt,) = metadata_store.list_task_attempts(task.id)
    assert (attempt.attempt, attempt.status, attempt.error, attempt.node) == (
        1,
        TaskStatus.FAILED,
        "boom",
        "n1",
    )
    assert attempt.started_at == T0 and attempt.ended_at == T0
    assert _names(attempt.artifacts) == {"output", "logs/stdout"}
    kept = next(a for a in attempt.artifacts if a.name == "output")
    assert (kept.id, kept.digest, kept.attempt, kept.task_id) == (output.id, "a" * 64, 1, task.id)


def test_a_task_that_succeeds_on_retry_shows_only_that_attempt(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    task = make_task(run, "train")
    metadata_store.create_tasks([task])
    metadata_store.update_task(task.id, status=TaskStatus.RUNNING, attempts=1)
    metadata_store.record_artifact(make_artifact(run, "logs/stdout", "1" * 64, task=task))
    metadata_store.record_artifact(make_artifact(run, "output", "2" * 64, task=task))
    failed = metadata_store.update_task(task.id, status=TaskStatus.FAILED, error="first try failed")
    assert failed.error == "first try failed"

    started = metadata_store.update_task(task.id, status=TaskStatus.RUNNING, attempts=2)
    assert started.error is None and started.ended_at is None  # a new attempt has no error yet
    out = metadata_store.record_artifact(make_artifact(run, "output", "3" * 64, task=task))
    done = metadata_store.update_task(task.id, status=TaskStatus.SUCCEEDED, ended_at=T0)

    assert done.status is TaskStatus.SUCCEEDED and done.attempts == 2 and done.error is None
    assert metadata_store.list_artifacts(run.id, task_id=task.id) == [out]  # no attempt-1 stdout
    assert metadata_store.find_artifact(run.id, "output", task_id=task.id).digest == "3" * 64
    first, second = metadata_store.list_task_attempts(task.id)
    assert (first.attempt, first.status, first.error) == (1, TaskStatus.FAILED, "first try failed")
    assert {(a.name, a.digest) for a in first.artifacts} == {("logs/stdout", "1" * 64), ("output", "2" * 64)}
    assert (second.attempt, second.status, second.error) == (2, TaskStatus.SUCCEEDED, None)
    assert second.artifacts == [out]


def test_a_late_write_of_a_failed_attempt_is_history_only(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    task = make_task(run, "train")
    metadata_store.create_tasks([task])
    metadata_store.update_task(task.id, status=TaskStatus.RUNNING, attempts=1)
    metadata_store.update_task(task.id, status=TaskStatus.FAILED, error="timed out after 1s")
    late = metadata_store.record_artifact(make_artifact(run, "output", "f" * 64, task=task))
    assert late.attempt == 1
    with pytest.raises(NotFoundError):
        metadata_store.find_artifact(run.id, "output", task_id=task.id)
    (attempt,) = metadata_store.list_task_attempts(task.id)
    assert [a.digest for a in attempt.artifacts] == ["f" * 64]


def test_cancelling_a_task_waiting_for_its_retry_keeps_the_failed_outcome(
    metadata_store: MetadataStore,
) -> None:
    run = make_run(metadata_store)
    task = make_task(run, "train")
    metadata_store.create_tasks([task])
    metadata_store.update_task(task.id, status=TaskStatus.RUNNING, attempts=1)
    metadata_store.update_task(task.id, status=TaskStatus.FAILED, error="boom")
    metadata_store.update_task(task.id, status=TaskStatus.CANCELLED)
    (attempt,) = metadata_store.list_task_attempts(task.id)
    assert attempt.status is TaskStatus.FAILED and attempt.error == "boom"


def test_a_stale_runs_running_attempt_fails_and_leaves_the_outputs(metadata_store: MetadataStore) -> None:
    import time

    run = make_run(metadata_store)
    task = make_task(run, "train")
    metadata_store.create_tasks([task])
    metadata_store.update_task(task.id, status=TaskStatus.RUNNING, attempts=1)
    metadata_store.record_artifact(make_artifact(run, "output", "a" * 64, task=task))
    time.sleep(1.2)
    assert metadata_store.fail_stale_runs(1.0) == [run.id]
    assert metadata_store.list_artifacts(run.id, task_id=task.id) == []
    (attempt,) = metadata_store.list_task_attempts(task.id)
    assert attempt.status is TaskStatus.FAILED and attempt.error and "run failed" in attempt.error
    assert _names(attempt.artifacts) == {"output"}


def test_attempts_of_an_unknown_task_are_not_found(metadata_store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="0" * 32):
        metadata_store.list_task_attempts("0" * 32)


def test_a_failed_attempts_blobs_stay_referenced(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    task = make_task(run, "train")
    metadata_store.create_tasks([task])
    metadata_store.update_task(task.id, status=TaskStatus.RUNNING, attempts=1)
    metadata_store.record_artifact(make_artifact(run, "output", "e" * 64, task=task))
    metadata_store.update_task(task.id, status=TaskStatus.FAILED, error="boom")
    from shipyard.metadata.rest.store import RestMetadataStore

    if isinstance(metadata_store, RestMetadataStore):  # gc runs beside the stores, never over REST
        with pytest.raises(ConfigurationError):
            metadata_store.referenced_digests()
        return
    assert "e" * 64 in metadata_store.referenced_digests()
