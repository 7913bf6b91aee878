"""Helpers shared by the MetadataStore contract suites (runs, tasks, artifacts to test with)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shipyard.core.entities import (
    ArtifactRecord,
    Run,
    RunCreate,
    Task,
)
from shipyard.core.ids import new_id
from shipyard.metadata import MetadataStore

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


def ids(runs: list[Run]) -> list[str]:
    return [r.id for r in runs]
