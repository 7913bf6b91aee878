"""Traffic split between versions (proportions, stickiness, per-version metrics), shadow traffic
(never changes a response, even when the shadow raises) and the prediction log under load."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pandas as pd
import pytest

from shipyard.core.errors import InvalidInputError
from shipyard.serving import Route, ServingConfig, create_serving_app, read_prediction_log
from tests.serving.conftest import FEATURES, Env, auth, live, rows, serve_cli


async def _fire(
    url: str, env: Env, bodies: list[Any], ids: list[str], concurrency: int = 32
) -> list[httpx.Response]:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers=auth(env), timeout=60) as client:

        async def one(body: Any, rid: str) -> httpx.Response:
            async with sem:
                return await client.post("/predict", json=body, headers={"X-Request-ID": rid})

        return await asyncio.gather(*(one(b, i) for b, i in zip(bodies, ids, strict=True)))


def test_canary_split_is_90_10_and_sticky(env: Env) -> None:
    body = rows(1, 7)
    ids = [uuid.uuid4().hex for _ in range(1000)]
    args = ["fraud@champion", "--route", "champion=90", "--route", "candidate=10", "--no-log"]
    with serve_cli(env, *args) as url:  # the CLI, in its own process
        responses = asyncio.run(_fire(url, env, [body] * len(ids), ids))
        again = asyncio.run(_fire(url, env, [body] * 50, ids[:50]))
        metrics = httpx.get(url + "/metrics", headers=auth(env)).text
    versions = [r.json()["version"] for r in responses]
    assert versions.count(1) + versions.count(2) == len(versions)
    share = versions.count(2) / len(versions)
    assert 0.07 <= share <= 0.13, share  # 1,000 requests: +-3 points is more than 3 sigma
    assert [r.json()["version"] for r in again] == versions[:50]  # same request id, same version
    assert 'shipyard_serving_requests_total{status="200",version="2"}' in metrics
    assert 'shipyard_serving_requests_total{status="200",version="1"}' in metrics
    # each version answers with its own model
    for r in responses[:40]:
        model = env.models[r.json()["version"]]
        assert r.json()["predictions"] == model.predict(pd.DataFrame(body)).tolist()
        assert r.headers["x-model-version"] == str(r.json()["version"])


def test_routing_proportions_over_many_request_ids(env: Env) -> None:
    config = ServingConfig("models:/fraud@champion", routes=(Route("champion", 90), Route("candidate", 10)))
    deployment = create_serving_app(config, stores=env.stores, security=object()).state.deployment  # type: ignore[arg-type]
    labels = [deployment.route(uuid.uuid4().hex).label for _ in range(20_000)]
    assert abs(labels.count("2") / len(labels) - 0.10) < 0.01
    assert {deployment.route("same-id").label for _ in range(10)} == {deployment.route("same-id").label}


def test_routes_must_add_up_and_share_the_signature(env: Env) -> None:
    with pytest.raises(InvalidInputError, match="add up to 100"):
        ServingConfig("models:/fraud@champion", routes=(Route("champion", 90), Route("candidate", 20)))
    with pytest.raises(InvalidInputError, match="REF=WEIGHT"):
        Route.parse("champion")


def test_shadow_never_changes_the_response_and_is_logged(env: Env) -> None:
    log_dir = env.root / "log-shadow"
    bodies = [rows(2, 300 + i) for i in range(40)]
    ids = [f"shadow-{i}" for i in range(40)]
    # version 3 always raises: the responses must be exactly those of the champion
    config = ServingConfig(
        "models:/fraud@champion",
        shadow="3",
        allow_unsafe_model=True,
        log_dir=str(log_dir),
        deployment="raising-shadow",
    )
    with live(create_serving_app(config, stores=env.stores)) as url:
        responses = asyncio.run(_fire(url, env, bodies, ids))
        metrics = httpx.get(url + "/metrics", headers=auth(env)).text
    for body, r in zip(bodies, responses, strict=True):
        assert r.status_code == 200 and r.json()["version"] == 1
        assert r.json()["predictions"] == env.models[1].predict(pd.DataFrame(body)).tolist()
    assert 'shipyard_serving_errors_total{kind="shadow_error",version="3"}' in metrics
    # a working shadow (candidate): answers logged with role=shadow, never returned
    config = ServingConfig(
        "models:/fraud@champion", shadow="candidate", log_dir=str(log_dir), deployment="candidate-shadow"
    )
    with live(create_serving_app(config, stores=env.stores)) as url:
        responses = asyncio.run(_fire(url, env, bodies, ids))
    assert all(r.json()["version"] == 1 for r in responses)
    logged = read_prediction_log(str(log_dir), "candidate-shadow")
    assert isinstance(logged, pd.DataFrame)
    shadow = logged[logged["role"] == "shadow"]
    assert set(shadow["request_id"]) == set(ids) and set(shadow["version"]) == {2}
    first = shadow[shadow["request_id"] == "shadow-0"].sort_values("row")
    assert first["prediction"].tolist() == env.models[2].predict(pd.DataFrame(bodies[0])).tolist()


def test_prediction_log_is_complete_under_load(env: Env) -> None:
    log_dir = env.root / "log-load"
    n = 300
    bodies = [rows(1 + i % 3, 500 + i) for i in range(n)]
    ids = [uuid.uuid4().hex for _ in range(n)]
    config = ServingConfig("models:/fraud@champion", log_dir=str(log_dir), log_flush_s=0.2, deployment="load")
    with live(create_serving_app(config, stores=env.stores)) as url:
        responses = asyncio.run(_fire(url, env, bodies, ids, concurrency=64))
        metrics = httpx.get(url + "/metrics", headers=auth(env)).text
    assert all(r.status_code == 200 for r in responses)
    table = read_prediction_log(str(log_dir), "load")
    assert isinstance(table, pd.DataFrame)
    assert set(table["request_id"]) == set(ids)
    assert len(table) == sum(len(b) for b in bodies)
    expected = [
        "request_id",
        "ts",
        "deployment",
        "model",
        "version",
        "role",
        "latency_ms",
        "row",
        *FEATURES,
        "prediction",
        "proba",
    ]
    assert list(table.columns) == expected
    assert str(table["ts"].dt.tz) == "UTC" and (table["latency_ms"] > 0).all()
    one = table[table["request_id"] == ids[5]].sort_values("row")
    assert one["f0"].tolist() == [r["f0"] for r in bodies[5]]
    assert one["prediction"].tolist() == responses[5].json()["predictions"]
    assert 'shipyard_serving_prediction_log_dropped_total{reason="queue_full"} 0.0' in metrics


def test_a_full_prediction_log_drops_and_counts(env: Env, tmp_path: Any) -> None:
    config = ServingConfig(
        "models:/fraud@champion", log_dir=str(tmp_path / "log"), log_queue=1, log_flush_s=5.0
    )
    app = create_serving_app(config, stores=env.stores)
    writer = app.state.deployment.log_writer
    writer._thread = type(writer._thread)(target=lambda: None)  # a writer that never drains
    with live(app) as url:
        ids = [f"r{i}" for i in range(20)]
        responses = asyncio.run(_fire(url, env, [rows(1, 1)] * 20, ids))
        metrics = httpx.get(url + "/metrics", headers=auth(env)).text
    assert all(r.status_code == 200 for r in responses)
    assert 'shipyard_serving_prediction_log_dropped_total{reason="queue_full"} 19.0' in metrics


def test_a_failing_prediction_log_never_fails_requests(env: Env, tmp_path: Any) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    config = ServingConfig("models:/fraud@champion", log_dir=str(blocker), log_flush_s=0.05)
    with live(create_serving_app(config, stores=env.stores)) as url:
        ids = [f"w{i}" for i in range(10)]
        responses = asyncio.run(_fire(url, env, [rows(1, 1)] * 10, ids))
        deadline = 50
        while deadline:
            metrics = httpx.get(url + "/metrics", headers=auth(env)).text
            if 'prediction_log_dropped_total{reason="write_failed"} 10.0' in metrics:
                break
            deadline -= 1
            time.sleep(0.1)
    assert all(r.status_code == 200 for r in responses)
    assert 'shipyard_serving_prediction_log_dropped_total{reason="write_failed"} 10.0' in metrics
