"""The run path's stdlib SQLite store (``SqliteRunStore``): when it is used, that what it writes
reads the same through the SQL store, and that the stores beside the metadata still open on it.
(Its operations are judged by the contract suite: backend ``sqlite-stdlib`` in tests/contract.)"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from shipyard.core.clock import utcnow
from shipyard.core.entities import ArtifactRecord, LineageEdge, RunCreate, RunStatus, Task, TaskStatus
from shipyard.core.ids import new_id
from shipyard.metadata import open_metadata_store
from shipyard.metadata.sql.store import SqlMetadataStore
from shipyard.metadata.sqlite_store import SqliteRunStore
from shipyard.runtime.stores import open_run_metadata


@pytest.fixture
def uri(tmp_path: Path) -> str:
    found = f"sqlite:///{tmp_path / 'shipyard.db'}"
    open_metadata_store(found).close()  # created and migrated by the SQL store
    return found


def test_it_opens_only_a_plain_file_at_the_schema_head(uri: str, tmp_path: Path) -> None:
    store = SqliteRunStore.open(uri)
    assert store is not None
    store.close()
    assert SqliteRunStore.open(f"sqlite:///{tmp_path / 'missing.db'}") is None
    assert SqliteRunStore.open("sqlite:///:memory:") is None
    assert SqliteRunStore.open(f"{uri}?timeout=5") is None
    assert SqliteRunStore.open("postgresql://u@localhost/db") is None
    with sqlite3.connect(uri.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE shipyard_schema_version SET version_num = 'an_older_one'")
    assert SqliteRunStore.open(uri) is None  # the SQL store migrates (or refuses) it


def test_the_runtime_picks_it_for_the_embedded_file_and_the_sql_store_otherwise(tmp_path: Path) -> None:
    fresh = f"sqlite:///{tmp_path / 'fresh' / 'shipyard.db'}"
    first = open_run_metadata(fresh)  # no file yet: the SQL store creates it
    assert isinstance(first, SqlMetadataStore)
    first.close()
    second = open_run_metadata(fresh)
    assert isinstance(second, SqliteRunStore)
    second.close()


def test_what_it_writes_reads_the_same_through_the_sql_store(uri: str) -> None:
    fast = SqliteRunStore.open(uri)
    assert fast is not None
    sql = open_metadata_store(uri)
    try:
        run_id = new_id()
        made = fast.create_run(
            RunCreate(
                id=run_id,
                name="r-1",
                namespace="user:x",
                user="x",
                start_time=utcnow(),
                params={"n": 3, "cfg": {"b": [1, 2]}},
                tags={"team": "fraud"},
                flow_name="plus",
                flow_spec={"file": "plus.py", "graph": {"nodes": []}},
            )
        )
        task = Task(id=new_id(), run_id=run_id, step="first", key="first", spec={"inputs": {}})
        fast.create_tasks([task])
        fast.update_task(task.id, status=TaskStatus.RUNNING, attempts=1, started_at=utcnow(), node="local:1")
        record = fast.record_artifact(
            ArtifactRecord(
                new_id(), run_id, "output", "d" * 64, 3, "json", utcnow(), task_id=task.id, meta={"k": 1}
            )
        )
        fast.update_task(task.id, status=TaskStatus.SUCCEEDED, ended_at=utcnow())
        later = Task(id=new_id(), run_id=run_id, step="second", key="second")
        fast.create_tasks([later])
        fast.record_lineage([LineageEdge(later.id, record.id, "x")])
        finished = fast.finish_run(run_id, RunStatus.SUCCEEDED, utcnow())
        assert sql.get_run(run_id) == finished == fast.get_run(run_id)
        assert made.params == finished.params and made.tags == finished.tags
        assert sql.list_tasks(run_id) == fast.list_tasks(run_id)
        assert sql.get_artifact(record.id) == fast.get_artifact(record.id) == record
        assert sql.list_task_attempts(task.id)[0].status is TaskStatus.SUCCEEDED
        assert sql.task_inputs(later.id) == [LineageEdge(later.id, record.id, "x")]
    finally:
        fast.close()
        sql.close()


def test_stores_beside_the_metadata_open_on_its_sql_store(uri: str) -> None:
    from shipyard.metadata.branches import open_branch_store

    fast = SqliteRunStore.open(uri)
    assert fast is not None
    try:
        assert isinstance(fast.backing_store(), SqlMetadataStore)
        branches = open_branch_store(fast)
        assert branches.record("fraud", "feature", by="x").name == "feature"
    finally:
        fast.close()


def test_a_forked_child_uses_its_own_connection(uri: str) -> None:
    fast = SqliteRunStore.open(uri)
    assert fast is not None
    run = RunCreate(id=new_id(), name="parent", namespace="user:x", user="x", start_time=utcnow())
    fast.create_run(run)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        try:
            fast.heartbeat_run(run.id)
            code = 0 if fast.get_run(run.id).name == "parent" else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert fast.get_run(run.id).status is RunStatus.RUNNING  # the parent's connection still works
    fast.close()
