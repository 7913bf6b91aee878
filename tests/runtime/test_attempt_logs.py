"""Which logs a task shows: its own attempt's; a failed task's last attempt's; attempt N's on request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.artifacts.store import StoredObject
from shipyard.core.clock import utcnow
from shipyard.core.entities import RunCreate, Task, TaskStatus
from shipyard.core.errors import NotFoundError
from shipyard.core.ids import new_id
from shipyard.core.settings import load_settings
from shipyard.runtime.logs import log_records, task_logs
from shipyard.runtime.stores import RunStores, open_run_stores


@pytest.fixture
def stores() -> Iterator[RunStores]:
    s = open_run_stores(load_settings())
    yield s
    s.close()


def _attempt(stores: RunStores, task: Task, number: int, text: bytes, status: TaskStatus) -> None:
    md = stores.metadata
    md.update_task(task.id, status=TaskStatus.RUNNING, attempts=number)
    stored = StoredObject(stores.artifacts.put_bytes(text), len(text), "bytes")
    md.record_artifact(stored.record(task.run_id, "logs/stdout", task_id=task.id))
    md.update_task(task.id, status=status, error=None if status.ok else f"failed {number}")


def test_a_failed_task_shows_its_last_attempts_logs(stores: RunStores) -> None:
    md = stores.metadata
    run = md.create_run(RunCreate(id=new_id(), name="r", namespace="user:a", user="a", start_time=utcnow()))
    task = Task(id=new_id(), run_id=run.id, step="s", key="s")
    md.create_tasks([task])
    _attempt(stores, task, 1, b"one\n", TaskStatus.FAILED)
    _attempt(stores, task, 2, b"two\n", TaskStatus.FAILED)

    (logs,) = task_logs(stores, run.id, "s")
    assert (logs.stdout, logs.attempt) == (b"two\n", 2)
    (first,) = task_logs(stores, run.id, "s", attempt=1)
    assert (first.stdout, first.attempt) == (b"one\n", 1)
    with pytest.raises(NotFoundError, match="has no attempt 5; its attempts: 1, 2"):
        log_records(md, md.get_task(task.id), 5)


def test_a_retried_task_that_succeeded_shows_only_its_own_logs(stores: RunStores) -> None:
    md = stores.metadata
    run = md.create_run(RunCreate(id=new_id(), name="r", namespace="user:a", user="a", start_time=utcnow()))
    task = Task(id=new_id(), run_id=run.id, step="s", key="s")
    md.create_tasks([task])
    _attempt(stores, task, 1, b"one\n", TaskStatus.FAILED)
    md.update_task(task.id, status=TaskStatus.RUNNING, attempts=2)
    md.update_task(task.id, status=TaskStatus.SUCCEEDED)  # printed nothing

    (logs,) = task_logs(stores, run.id, "s")
    assert (logs.stdout, logs.stderr) == (b"", b"")
