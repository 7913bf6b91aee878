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


@pytest.fixture
def metadata_store(run_path_store: MetadataStore) -> MetadataStore:
    """Every backend plus the run path's stdlib SQLite store (conftest's RUN_PATH_BACKENDS)."""
    return run_path_store


N = 567


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """REST pages of 200 rows here, so following pages is exercised without big data."""
    from shipyard.metadata.rest import paging, store

    monkeypatch.setattr(store, "LIST_PAGE_MAX", 200)
    monkeypatch.setattr(paging, "LIST_PAGE_MAX", 200)


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


# ---- the model registry and monitoring results/alerts ----------------------------------------------
M = 23  # rows per list below; REST pages of 7 here, so the client follows four pages
SMALL = 7


@pytest.fixture
def tiny_pages(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """REST pages of ``SMALL`` rows; the list of the query parameters of every paged GET it sent."""
    from shipyard.metadata.rest import http, paging

    monkeypatch.setattr(paging, "LIST_PAGE_MAX", SMALL)
    sent: list[dict[str, Any]] = []
    real = http.RestSession.call

    def call(self: Any, method: str, path: str, *args: Any, **kw: Any) -> Any:
        params = kw.get("params") or {}
        if method == "GET" and "offset" in params:
            sent.append(dict(params))
        return real(self, method, path, *args, **kw)

    monkeypatch.setattr(http.RestSession, "call", call)
    return sent


def _every_row_once(whole: list[Any], page: Callable[..., list[Any]], sent: list[dict[str, Any]]) -> None:
    """``page()`` is the whole list (over REST: followed page by page); pages of 4 cover every row
    exactly once; limit/offset take a slice; bad values are refused."""
    n = len(whole)
    assert n > 2 * SMALL
    sent.clear()
    assert page() == whole
    if sent:  # the REST client: one request per page, none asking for more than a page
        assert [p["offset"] for p in sent] == list(range(0, n, SMALL))
        assert all(p["limit"] == SMALL for p in sent)
    seen: list[Any] = []
    for offset in range(0, n + 4, 4):
        seen.extend(page(limit=4, offset=offset))
    assert seen == whole
    assert page(limit=3, offset=2) == whole[2:5]
    assert page(offset=n - 2) == whole[-2:]
    assert page(limit=0) == [] and page(offset=n + 5) == []
    for bad in ({"limit": -1}, {"offset": -1}):
        with pytest.raises(InvalidInputError):
            page(**bad)


def test_registry_lists_come_in_pages(
    metadata_store: MetadataStore, tiny_pages: list[dict[str, Any]]
) -> None:
    from shipyard.metadata.model_registry import LineageRecord, ModelVersionCreate, open_registry_store

    registry = open_registry_store(metadata_store)
    shared = LineageRecord("art-shared", "data", "d" * 64, "r0", "t0", "parquet", 2, "load")
    # lineage rows that tie on (depth, name): only the artifact id orders them
    feats = [LineageRecord(f"art-{i:03d}", "feat", "f" * 64, "r0", None, "numpy", 1) for i in range(M - 1)]
    lineage = (shared, *feats)
    for i in range(M):
        registry.create_version(
            ModelVersionCreate(
                f"m{i:03d}", "a" * 64, 10, "sklearn", "alice", T0, run_id="r-many", lineage=(shared,)
            )
        )
    for _ in range(M - 1):  # model "m000": M versions, from another run
        registry.create_version(
            ModelVersionCreate("m000", "b" * 64, 10, "sklearn", "bob", T0, run_id="r-one", lineage=lineage)
        )
    models = registry.list_models()
    assert [m.name for m in models] == [f"m{i:03d}" for i in range(M)]
    _every_row_once(models, lambda **kw: registry.list_models(**kw), tiny_pages)
    assert [m.name for m in registry.list_models("m01", limit=2, offset=1)] == ["m011", "m012"]
    versions = registry.list_versions("m000")
    assert [v.version for v in versions] == list(range(1, M + 1))
    _every_row_once(versions, lambda **kw: registry.list_versions("m000", **kw), tiny_pages)
    from_run = registry.versions_from_run("r-many")
    assert [v.model_name for v in from_run] == [f"m{i:03d}" for i in range(M)]
    _every_row_once(from_run, lambda **kw: registry.versions_from_run("r-many", **kw), tiny_pages)
    by_id = registry.versions_from_artifact(artifact_id="art-shared")
    assert len(by_id) == 2 * M - 1
    assert [(v.model_name, v.version) for v in by_id[: M + 1]] == [("m000", i) for i in range(1, M + 1)] + [
        ("m001", 1)
    ]
    _every_row_once(
        by_id, lambda **kw: registry.versions_from_artifact(artifact_id="art-shared", **kw), tiny_pages
    )
    _every_row_once(by_id, lambda **kw: registry.versions_from_artifact(digest="d" * 64, **kw), tiny_pages)
    assert registry.versions_from_run("r-one", limit=2, offset=1) == by_id[2:4]
    lineage_rows = registry.version_lineage("m000", 2)
    assert [r.artifact_id for r in lineage_rows] == [f"art-{i:03d}" for i in range(M - 1)] + ["art-shared"]
    _every_row_once(lineage_rows, lambda **kw: registry.version_lineage("m000", 2, **kw), tiny_pages)
    registry.set_approval("m000", 1, True, user="u", at=T0)
    for i in range(M):
        registry.set_alias("m000", "candidate" if i % 2 else "staging", 1 + i % 3, user="u", at=T0)
    history = registry.alias_history("m000")
    assert len(history) == M
    _every_row_once(history, lambda **kw: registry.alias_history("m000", **kw), tiny_pages)
    staging = registry.alias_history("m000", "staging")
    assert staging == [e for e in history if e.alias == "staging"]
    assert registry.alias_history("m000", "staging", limit=2, offset=1) == staging[1:3]


def test_monitor_results_and_alerts_come_in_pages(
    metadata_store: MetadataStore, tiny_pages: list[dict[str, Any]]
) -> None:
    from datetime import timedelta

    from shipyard.metadata.monitoring import ResultRow

    records = open_monitoring_records(metadata_store)
    # M rows at 4 instants: many ties on time, which only the insertion order breaks
    rows = [
        ResultRow("m", T0 + timedelta(minutes=i % 4), "psi", f"f{i:02d}", 0.1, 0.2, False) for i in range(M)
    ]
    records.add_results([*rows, ResultRow("other", T0, "psi", "x", 1.0, 0.2, True)])
    results = records.results("m")
    assert results == sorted(rows, key=lambda r: r.at)
    _every_row_once(results, lambda **kw: records.results("m", **kw), tiny_pages)
    later = records.results("m", since=T0 + timedelta(minutes=2))
    assert (
        later == results[-len(later) :]
        and records.results("m", T0 + timedelta(minutes=2), 3, offset=2) == later[2:5]
    )
    made = [records.create_alert("m" if i % 3 else "n", f"k{i}", T0, None, "x") for i in range(M)]
    alerts = records.alerts()
    assert [a.id for a in alerts] == [a.id for a in reversed(made)]  # newest first
    _every_row_once(alerts, lambda **kw: records.alerts(**kw), tiny_pages)
    mine = [a for a in alerts if a.monitor == "m"]
    assert records.alerts("m") == mine and records.alerts("m", 2, offset=3) == mine[3:5]
