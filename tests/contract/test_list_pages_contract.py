"""Lists that can grow without bound come in pages, over every metadata backend: tasks, artifacts
and lineage of a run, monitors. ``limit``/``offset`` take one page; without them a backend returns
the whole list (the REST client follows the server's pages, each at most ``LIST_PAGE_MAX``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shipyard.core.entities import LineageEdge
from shipyard.core.errors import InvalidInputError
from shipyard.metadata import MetadataStore
from shipyard.metadata.monitoring import open_monitoring_records
from tests.contract.metadata_helpers import T0, make_artifact, make_run, make_task

N = 567


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """REST pages of 200 rows here, so following pages is exercised without big data."""
    from shipyard.metadata.rest import monitoring, store

    monkeypatch.setattr(store, "LIST_PAGE_MAX", 200)
    monkeypatch.setattr(monitoring, "LIST_PAGE_MAX", 200)


def _check(whole: list[Any], page: Callable[..., list[Any]]) -> None:
    assert page() == whole
    assert page(limit=10, offset=5) == whole[5:15]
    assert page(limit=N, offset=len(whole) - 3) == whole[-3:]
    assert page(offset=len(whole) - 300) == whole[-300:]  # past one REST page, to the end
    assert page(limit=0) == [] and page(offset=len(whole) + 10) == []
    for bad in ({"limit": -1}, {"offset": -1}):
        with pytest.raises(InvalidInputError):
            page(**bad)


def test_tasks_artifacts_and_lineage_come_in_pages(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    tasks = [make_task(run, f"fan[{i}]") for i in range(N)]
    metadata_store.create_tasks(tasks)
    listed = metadata_store.list_tasks(run.id)
    assert [t.id for t in listed] == [t.id for t in tasks]
    _check(listed, lambda **kw: metadata_store.list_tasks(run.id, **kw))
    shared = metadata_store.record_artifact(make_artifact(run, "shared"))
    for i in range(N):
        metadata_store.record_artifact(make_artifact(run, f"out{i}", task=tasks[i % 7]))
    artifacts = metadata_store.list_artifacts(run.id)
    assert len(artifacts) == N + 1
    _check(artifacts, lambda **kw: metadata_store.list_artifacts(run.id, **kw))
    metadata_store.record_lineage([LineageEdge(t.id, shared.id, "data") for t in tasks])
    consumers = metadata_store.artifact_consumers(shared.id)
    assert [e.task_id for e in consumers] == [t.id for t in tasks]
    _check(consumers, lambda **kw: metadata_store.artifact_consumers(shared.id, **kw))
    assert metadata_store.task_inputs(tasks[0].id, limit=1) == [LineageEdge(tasks[0].id, shared.id, "data")]


def test_monitors_come_in_pages(metadata_store: MetadataStore) -> None:
    records = open_monitoring_records(metadata_store)
    spec = {"deployment": "d", "window": "1h", "every": "1h", "checks": {"volume": {"min": 1}}}
    names = sorted(f"m{i:05d}" for i in range(N))
    for name in names:
        records.put_monitor(name, "d", {**spec, "name": name}, T0)
    listed = records.list_monitors()
    assert [m["name"] for m in listed] == names
    _check(listed, lambda **kw: records.list_monitors(**kw))
