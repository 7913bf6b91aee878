"""Revision 0012_attempts: plain ALTER/CREATE only (artifacts and lineage survive down and up), and
runs that the new resume lease would refuse (two RUNNING resumes of one run) are settled first."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from shipyard.core.entities import ArtifactRecord, LineageEdge, RunCreate, RunStatus, Task
from shipyard.metadata.sql import SqlMetadataStore
from shipyard.metadata.sql.engine import normalize_url
from tests.metadata.test_migrations import _downgrade_to, db_url

__all__ = ["db_url"]  # the fixture, over SQLite and Postgres

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(store: SqlMetadataStore, run_id: str, origin: str | None = None) -> None:
    store.create_run(RunCreate(id=run_id, name="r", namespace="user:a", user="a", start_time=T0,
                               origin_run_id=origin))  # fmt: skip


def test_0012_keeps_artifacts_and_settles_duplicate_resumes(db_url: str) -> None:
    store = SqlMetadataStore(db_url)
    try:
        _run(store, "origin")
        store.finish_run("origin", RunStatus.FAILED, T0)
        store.create_tasks([Task(id="t1", run_id="origin", step="s", key="s")])
        art = ArtifactRecord("a1", "origin", "output", "a" * 64, 1, "json", T0, task_id="t1")
        store.record_artifact(art)
        store.record_lineage([LineageEdge("t1", "a1", "x")])
    finally:
        store.close()
    _downgrade_to(db_url, "0010_model_projects")
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:
            for run_id, start in (("older", 1), ("newer", 2)):  # both resumes of "origin" still RUNNING
                conn.execute(
                    text(
                        'INSERT INTO runs (id, name, namespace, "user", status, start_time, origin_run_id) '
                        "VALUES (:id, 'r', 'user:a', 'a', 'running', :start, 'origin')"
                    ),
                    {"id": run_id, "start": start},
                )
    finally:
        engine.dispose()
    store = SqlMetadataStore(db_url)  # back to head: 0012 runs again
    try:
        assert store.get_run("newer").status is RunStatus.RUNNING
        older = store.get_run("older")
        assert older.status is RunStatus.FAILED and older.error and "0012_attempts" in older.error
        assert store.list_artifacts("origin", task_id="t1")[0].digest == "a" * 64
        assert [e.artifact_id for e in store.task_inputs("t1")] == ["a1"]
    finally:
        store.close()
