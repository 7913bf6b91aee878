"""``GET /metrics`` of the team server: who may scrape it, and that real requests move its values."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shipyard.core.entities import Metric, RunCreate, RunStatus, Task, TaskStatus
from shipyard.core.errors import AlreadyExistsError, ConflictError
from shipyard.metadata.rest.store import RestMetadataStore
from shipyard.server.app import ServerConfig
from shipyard.server.platform_metrics import OTHER, LabelBudget
from tests.server.access_helpers import client_for, make_user
from tests.server.live import LiveServer, live_server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    config = ServerConfig(token_cache_s=0.0, metrics_cache_s=0.0, metrics_timeout_s=0.5, max_blob_bytes=4096)
    with live_server(tmp_path, config) as s:
        yield s


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with client_for(server, server.token) as client:
        yield client


@pytest.fixture
def store(server: LiveServer) -> Iterator[RestMetadataStore]:
    rest = RestMetadataStore(server.url, server.token)
    try:
        yield rest
    finally:
        rest.close()


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def _run(store: RestMetadataStore, flow: str | None = None) -> str:
    run = store.create_run(
        RunCreate(uuid.uuid4().hex, "r", "user:admin", "admin", datetime.now(UTC), flow_name=flow)
    )
    return run.id


def test_scraping_needs_a_token_with_metrics_read(server: LiveServer, admin: httpx.Client) -> None:
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    viewer = make_user(admin, "vera", "viewer")  # reads every run, but not the platform's metrics
    with client_for(server, viewer) as client:
        refused = client.get("/metrics")
    assert refused.status_code == 403 and "metrics:read" in refused.json()["error"]["message"]
    # as the README sets it up: a service account with a custom role holding only metrics:read
    made = admin.post("/api/v1/roles", json={"name": "scraper", "permissions": ["metrics:read"]})
    made.raise_for_status()
    token = make_user(admin, "prometheus", None, kind="service")
    binding = {"principal": "prometheus", "principal_kind": "user", "role": "scraper", "scope": "*"}
    with client_for(server, token) as scraper:
        assert scraper.get("/metrics").status_code == 403  # no binding yet
        admin.post("/api/v1/bindings", json=binding).raise_for_status()
        samples = scrape(scraper)
        assert scraper.get("/api/v1/runs").status_code == 403  # the scraper reads nothing else
    assert {"shipyard_runs", "shipyard_http_requests_total", "shipyard_host_cpus"} <= names(samples)
    # held only in a project, it does not open the platform-wide metrics
    project_only = make_user(admin, "proj-scraper", None, kind="service")
    project_binding = {**binding, "principal": "proj-scraper", "scope": "project:fraud"}
    admin.post("/api/v1/bindings", json=project_binding).raise_for_status()
    with client_for(server, project_only) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 403 and "server scope" in answer.json()["error"]["message"]


def test_requests_are_counted_by_route_template_never_by_path(
    admin: httpx.Client, store: RestMetadataStore
) -> None:
    run_ids = [_run(store) for _ in range(3)]
    route = {"route": "/api/v1/runs/{run_id}", "method": "GET"}
    before = scrape(admin)
    for run_id in run_ids:
        admin.get(f"/api/v1/runs/{run_id}").raise_for_status()
    assert admin.get("/api/v1/runs/no-such-run").status_code == 404
    assert admin.get("/api/v1/no/such/route").status_code == 404
    after = scrape(admin)
    count = "shipyard_http_requests_total"
    assert value(after, count, **route, code="2xx") - value(before, count, **route, code="2xx") == 3
    assert value(after, count, **route, code="4xx") - value(before, count, **route, code="4xx") == 1
    assert value(after, count, route="<unmatched>", method="GET", code="4xx") >= 1
    latency = "shipyard_http_request_duration_seconds_count"
    assert value(after, latency, **route) - value(before, latency, **route) == 4
    assert value(after, "shipyard_http_request_duration_seconds_sum", **route) > 0
    labels = {v for _, label_set in after for _, v in label_set}
    assert not any(run_id in label for run_id in run_ids for label in labels)  # bounded cardinality


def test_metric_points_runs_and_tasks_move_with_real_writes(
    admin: httpx.Client, store: RestMetadataStore
) -> None:
    before = scrape(admin)
    run_id = _run(store, flow="train_flow")
    store.log_metrics(run_id, [Metric("loss", 1.0 / (i + 1), i, 1000 + i) for i in range(5)])
    store.log_metrics(run_id, [Metric("acc", 0.9, 0, 1000)])
    fit, evaluate = (Task(uuid.uuid4().hex, run_id, step, step) for step in ("fit", "evaluate"))
    store.create_tasks([fit, evaluate])
    created = datetime.now(UTC)
    started = created + timedelta(seconds=3)  # the queue wait the histogram should see
    store.update_task(fit.id, status=TaskStatus.RUNNING, started_at=started, node="worker-1")
    middle = scrape(admin)
    assert (
        value(middle, "shipyard_metric_points_written_total")
        - value(before, "shipyard_metric_points_written_total")
        == 6
    )
    assert value(middle, "shipyard_runs", status="running") == 1
    assert value(middle, "shipyard_tasks", status="pending") == 1
    assert value(middle, "shipyard_tasks", status="running") == 1
    assert value(middle, "shipyard_executor_running_tasks", node="worker-1") == 1
    step = {"flow": "train_flow", "step": "fit"}
    assert value(middle, "shipyard_task_queue_wait_seconds_count", **step) == 1
    wait = value(middle, "shipyard_task_queue_wait_seconds_sum", **step)
    assert 2.0 <= wait <= 30.0

    ended = started + timedelta(seconds=42)
    store.update_task(fit.id, status=TaskStatus.SUCCEEDED, started_at=started, ended_at=ended)
    store.update_task(evaluate.id, node="worker-1")  # no status change: observes nothing
    store.finish_run(run_id, RunStatus.SUCCEEDED, datetime.now(UTC))
    after = scrape(admin)
    done = {**step, "status": "succeeded"}
    assert value(after, "shipyard_task_duration_seconds_count", **done) == 1
    assert value(after, "shipyard_task_duration_seconds_sum", **done) == pytest.approx(42.0)
    assert value(after, "shipyard_task_queue_wait_seconds_count", flow="train_flow", step="evaluate") == 0
    assert value(after, "shipyard_runs", status="running") == 0
    assert value(after, "shipyard_runs", status="succeeded") == 1
    assert value(after, "shipyard_tasks", status="succeeded") == 1
    assert ("shipyard_executor_running_tasks", frozenset({("node", "worker-1")})) not in after


def test_running_tasks_resources_are_set_against_the_host(
    admin: httpx.Client, store: RestMetadataStore
) -> None:
    run_id = _run(store, flow="f")
    spec = {"opts": {"resources": {"cpu": 1.5, "memory_mb": 256, "gpu": 1}}}
    running = TaskStatus.RUNNING
    store.create_tasks([Task(uuid.uuid4().hex, run_id, "s", f"s{i}", i, running, spec=spec) for i in (0, 1)])
    samples = scrape(admin)
    assert value(samples, "shipyard_executor_requested_cpus") == 3.0
    assert value(samples, "shipyard_executor_requested_memory_bytes") == 512 * 1024 * 1024
    assert value(samples, "shipyard_executor_requested_gpus") == 2
    import os

    import psutil

    assert value(samples, "shipyard_host_cpus") == os.cpu_count()
    assert value(samples, "shipyard_host_memory_bytes") == psutil.virtual_memory().total
    assert 0 < value(samples, "shipyard_host_memory_available_bytes") <= psutil.virtual_memory().total


def test_blob_bytes_in_and_out_are_counted(admin: httpx.Client) -> None:
    data = b"x" * 1000
    digest = hashlib.sha256(data).hexdigest()
    path = f"/api/v1/blobs/sha256/{digest}"
    before = scrape(admin)
    put = admin.put(path, content=data, headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 201
    assert admin.get(path).content == data
    assert admin.get(path).content == data
    assert admin.get(f"/api/v1/blobs/sha256/{'0' * 64}").status_code == 404  # an error's JSON is not a blob
    after = scrape(admin)
    received = "shipyard_artifact_bytes_received_total"
    sent = "shipyard_artifact_bytes_sent_total"
    assert value(after, received) - value(before, received) == 1000
    assert value(after, sent) - value(before, sent) == 2000


def test_monitor_runs_and_open_alerts(admin: httpx.Client) -> None:
    at = datetime.now(UTC).isoformat()

    def row(breached: bool) -> dict[str, Any]:
        return {"monitor": "drift", "at": at, "check": "drift", "subject": "amount", "value": 0.3,
                "threshold": 0.2, "breached": breached, "detail": None}  # fmt: skip

    admin.post("/api/v1/monitoring/results", json={"rows": [row(True), row(False)]}).raise_for_status()
    admin.post("/api/v1/monitoring/results", json={"rows": [row(False)]}).raise_for_status()
    for key in ("drift:amount", "drift:age"):
        alert = {"monitor": "drift", "key": key, "at": at, "value": 0.3, "message": "drifted"}
        admin.post("/api/v1/monitoring/alerts", json=alert).raise_for_status()
    samples = scrape(admin)
    assert value(samples, "shipyard_monitor_runs_total", source="api", outcome="breached") == 1
    assert value(samples, "shipyard_monitor_runs_total", source="api", outcome="ok") == 1
    assert value(samples, "shipyard_monitor_open_alerts", monitor="drift") == 2
    counts = admin.get("/api/v1/monitoring/open-alert-counts", params={"limit": 10})
    assert counts.json() == {"counts": {"drift": 2}}


def test_database_latency_and_errors_are_observed(admin: httpx.Client, store: RestMetadataStore) -> None:
    before = scrape(admin)
    run_id = _run(store)
    with pytest.raises((ConflictError, AlreadyExistsError)):
        store.create_run(RunCreate(run_id, "again", "user:admin", "admin", datetime.now(UTC)))
    after = scrape(admin)
    selects = "shipyard_db_query_duration_seconds_count"
    assert value(after, selects, operation="insert") > value(before, selects, operation="insert")
    assert value(after, selects, operation="select") > value(before, selects, operation="select")
    errors = "shipyard_db_errors_total"
    assert value(after, errors, kind="IntegrityError") - value(before, errors, kind="IntegrityError") == 1


def test_a_slow_database_never_fails_or_stalls_a_scrape(
    server: LiveServer, admin: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert value(scrape(admin), "shipyard_scrape_store_ok") == 1  # a first reading to fall back on
    metadata = server.stores.metadata
    real = metadata.status_summary
    release, calls = threading.Event(), []

    def stuck(**kw: Any) -> Any:
        calls.append(1)
        release.wait(30)
        return real(**kw)

    monkeypatch.setattr(metadata, "status_summary", stuck)
    try:
        for _ in range(3):
            started = time.monotonic()
            samples = scrape(admin)
            assert time.monotonic() - started < 5  # the timeout is 0.5 s
            assert value(samples, "shipyard_scrape_store_ok") == 0
            assert ("shipyard_runs", frozenset({("status", "running")})) in samples  # the last reading
            assert value(samples, "shipyard_scrape_store_age_seconds") > 0
        assert len(calls) == 1  # one reading at a time: slow scrapes never pile up database readers
    finally:
        release.set()
    deadline = time.monotonic() + 10
    while value(scrape(admin), "shipyard_scrape_store_ok") != 1:
        assert time.monotonic() < deadline, "the store reading never recovered"
        time.sleep(0.05)


def test_a_failing_database_read_is_counted_and_the_scrape_still_answers(
    server: LiveServer, admin: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.core.errors import StorageError

    def down(**_: Any) -> Any:
        raise StorageError("metadata database error: connection refused")

    monkeypatch.setattr(server.stores.metadata, "status_summary", down)
    samples = scrape(admin)
    assert value(samples, "shipyard_scrape_store_ok") == 0
    assert value(samples, "shipyard_scrape_store_failures_total") == 1
    assert "shipyard_metric_points_written_total" in names(samples)  # what needs no database
    assert "shipyard_runs" not in names(samples)  # no reading yet: nothing made up


def test_client_chosen_label_values_are_bounded() -> None:
    budget = LabelBudget(limit=2)
    assert budget("f", "a") == ("f", "a")
    assert budget("f", "b") == ("f", "b")
    assert budget("f", "c") == (OTHER, OTHER)
    assert budget("f", "a") == ("f", "a")  # ones already seen keep their labels
