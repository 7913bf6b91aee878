"""One request cannot exhaust the server: every list route answers a bounded page (metric history
by token, the other lists by offset), filters nest at most 32 deep, and an over-long path or
query string is a 414 — each refusal a one-line 4xx, never a 500 or a logged traceback."""

from __future__ import annotations

import logging

import httpx
import pytest

from shipyard.core.entities import LineageEdge, Metric
from shipyard.metadata.base import LIST_PAGE_DEFAULT, LIST_PAGE_MAX, METRIC_PAGE_DEFAULT, METRIC_PAGE_MAX
from tests.contract.metadata_helpers import make_artifact, make_run, make_task
from tests.server.live import LiveServer


def _refused(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    assert "\n" not in message and len(message) < 500 and "Traceback" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    for word in words:
        assert word in message, message


@pytest.fixture
def no_error_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def _assert_no_error_logs(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage()[:200] for r in errors]


def test_metric_history_comes_in_bounded_pages(server: LiveServer, admin: httpx.Client) -> None:
    run = make_run(server.stores.metadata)
    points = [Metric("loss", float(i), i, i) for i in range(METRIC_PAGE_DEFAULT + 7)]
    server.stores.metadata.log_metrics(run.id, points)
    url = f"/api/v1/runs/{run.id}/metric-history"
    first = admin.get(url, params={"key": "loss"}).json()
    assert len(first["metrics"]) == METRIC_PAGE_DEFAULT and first["next_page_token"]
    rest = admin.get(url, params={"key": "loss", "page_token": first["next_page_token"]}).json()
    assert [row[2] for row in rest["metrics"]] == list(range(METRIC_PAGE_DEFAULT, METRIC_PAGE_DEFAULT + 7))
    assert rest["next_page_token"] is None
    small = admin.get(url, params={"key": "loss", "limit": 3}).json()
    assert [row[1] for row in small["metrics"]] == [0.0, 1.0, 2.0]
    _refused(
        admin.get(url, params={"key": "loss", "limit": METRIC_PAGE_MAX + 1}), 400, "invalid_input", "limit"
    )
    _refused(admin.get(url, params={"key": "loss", "limit": 0}), 400, "invalid_input", "limit")
    _refused(
        admin.get(url, params={"key": "loss", "page_token": "x" * 60}), 400, "invalid_input", "page_token"
    )


def test_every_list_route_answers_a_bounded_page(server: LiveServer, admin: httpx.Client) -> None:
    store = server.stores.metadata
    run = make_run(store)
    tasks = [make_task(run, f"fan[{i}]") for i in range(LIST_PAGE_DEFAULT + 5)]
    store.create_tasks(tasks)
    shared = store.record_artifact(make_artifact(run, "shared"))
    store.record_lineage([LineageEdge(t.id, shared.id, "data") for t in tasks])
    routes = {
        f"/api/v1/runs/{run.id}/tasks": "tasks",
        f"/api/v1/artifacts/{shared.id}/consumers": "edges",
    }
    for url, field in routes.items():
        first = admin.get(url).json()
        assert len(first[field]) == LIST_PAGE_DEFAULT and first["next_offset"] == LIST_PAGE_DEFAULT
        rest = admin.get(url, params={"offset": first["next_offset"]}).json()
        assert len(rest[field]) == 5 and rest["next_offset"] is None
        _refused(admin.get(url, params={"limit": LIST_PAGE_MAX + 1}), 400, "invalid_input", "limit")
        _refused(admin.get(url, params={"offset": -1}), 400, "invalid_input", "offset")
    for url in (
        f"/api/v1/runs/{run.id}/artifacts",
        f"/api/v1/tasks/{tasks[0].id}/inputs",
        "/api/v1/monitoring/monitors",
    ):
        page = admin.get(url, params={"limit": 1}).json()
        assert "next_offset" in page, url
        _refused(admin.get(url, params={"limit": LIST_PAGE_MAX + 1}), 400, "invalid_input", "limit")
    _refused(
        admin.get("/api/v1/run-ids", params={"prefix": "0", "limit": 10**6}), 400, "invalid_input", "limit"
    )
    _refused(admin.get("/api/v1/runs", params={"max_results": 10**6}), 400, "invalid_input", "max_results")


def test_registry_and_monitoring_lists_answer_bounded_pages(server: LiveServer, admin: httpx.Client) -> None:
    from datetime import UTC, datetime

    from shipyard.metadata.model_registry import LineageRecord, ModelVersionCreate, open_registry_store
    from shipyard.metadata.monitoring import ResultRow, open_monitoring_records

    at = datetime(2026, 1, 1, tzinfo=UTC)
    registry = open_registry_store(server.stores.metadata)
    edges = tuple(LineageRecord(f"a{i}", "data", "d" * 64, "r1", None, "parquet", 1) for i in range(2))
    for name in ("fraud", "fraud-b"):
        for _ in range(2):
            registry.create_version(
                ModelVersionCreate(name, "p" * 64, 1, "sklearn", "u", at, run_id="r1", lineage=edges)
            )
    for version in (1, 2):
        registry.set_alias("fraud", "candidate", version, user="u", at=at)
    records = open_monitoring_records(server.stores.metadata)
    records.add_results(
        [ResultRow("m", at, "psi", f"f{i}", 0.1, 0.2, False) for i in range(LIST_PAGE_DEFAULT + 5)]
    )
    for key in ("k1", "k2"):
        records.create_alert("m", key, at, None, "x")
    first = admin.get("/api/v1/monitoring/results", params={"monitor": "m"}).json()
    assert len(first["results"]) == LIST_PAGE_DEFAULT and first["next_offset"] == LIST_PAGE_DEFAULT
    rest = admin.get(
        "/api/v1/monitoring/results", params={"monitor": "m", "offset": LIST_PAGE_DEFAULT}
    ).json()
    assert [r["subject"] for r in rest["results"]] == [
        f"f{i}" for i in range(LIST_PAGE_DEFAULT, LIST_PAGE_DEFAULT + 5)
    ]
    assert rest["next_offset"] is None
    routes = {
        "/api/v1/models": ({}, "models"),
        "/api/v1/models/fraud/versions": ({}, "versions"),
        "/api/v1/models/fraud/versions/1/lineage": ({}, "lineage"),
        "/api/v1/models/fraud/alias-history": ({}, "events"),
        "/api/v1/model-versions": ({"artifact_id": "a0"}, "versions"),
        "/api/v1/runs/r1/model-versions": ({}, "versions"),
        "/api/v1/monitoring/results": ({"monitor": "m"}, "results"),
        "/api/v1/monitoring/alerts": ({}, "alerts"),
    }
    for url, (params, field) in routes.items():
        page = admin.get(url, params={**params, "limit": 1}).json()
        assert len(page[field]) == 1 and page["next_offset"] == 1, url
        last = admin.get(url, params={**params, "limit": 1, "offset": 1}).json()
        assert len(last[field]) == 1 and last[field] != page[field], url
        for bad, word in (
            ({"limit": 0}, "limit"),
            ({"limit": LIST_PAGE_MAX + 1}, "limit"),
            ({"offset": -1}, "offset"),
        ):
            _refused(admin.get(url, params={**params, **bad}), 400, "invalid_input", word)


@pytest.mark.parametrize("depth", [33, 500, 3000])
def test_deeply_nested_filters_are_a_400_without_a_traceback(
    admin: httpx.Client, no_error_logs: pytest.LogCaptureFixture, depth: int
) -> None:
    source = "(" * depth + "metrics.a > 1" + ")" * depth
    _refused(admin.get("/api/v1/runs", params={"filter": source}), 400, "invalid_input", "nested")
    _assert_no_error_logs(no_error_logs)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/ui/static/" + "a" * 10_000, None),
        ("/ui/static/" + "b" * 300 + ".css", None),
        ("/api/v1/runs/" + "c" * 300, None),
        ("/api/v1/" + "d/" * 1500 + "x", None),
        ("/api/v1/runs", {"filter": "name = '" + "e" * 40_000 + "'"}),
    ],
)
def test_over_long_paths_and_queries_are_a_414(
    anon: httpx.Client,
    admin: httpx.Client,
    no_error_logs: pytest.LogCaptureFixture,
    path: str,
    params: dict[str, str] | None,
) -> None:
    for client in (anon, admin):
        _refused(client.get(path, params=params), 414, "uri_too_long", "too long")
    _assert_no_error_logs(no_error_logs)


def test_ordinary_long_names_still_pass(admin: httpx.Client) -> None:
    name = "m" * 250  # the longest name a model may have
    assert admin.get(f"/api/v1/models/{name}").status_code == 404
    assert admin.get("/ui/static/" + "f" * 200 + ".css").status_code == 404
