"""The serving app end to end on a live loopback server: predict forms, validation errors naming
the column, auth, request ids, limits, health/ready/metrics/docs, unsafe models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import ConfigurationError, SerializationError
from shipyard.serving import ServingConfig, create_serving_app
from tests.serving.conftest import FEATURES, Env, auth, live, rows


@pytest.fixture(scope="module")
def server(env: Env) -> Iterator[str]:
    config = ServingConfig("models:/fraud@champion", log_dir=str(env.root / "log-app"), max_body_bytes=64_000)
    with live(create_serving_app(config, stores=env.stores)) as url:
        yield url


def post(url: str, env: Env, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(url + "/predict", json=body, headers={**auth(env), **kw.pop("headers", {})}, **kw)


def test_records_and_columns_answer_like_the_model(server: str, env: Env) -> None:
    data = rows(7, 11)
    expected = env.models[1].predict(pd.DataFrame(data)).tolist()
    proba = env.models[1].predict_proba(pd.DataFrame(data))
    for body in (data, {"records": data}, {"columns": {f: [r[f] for r in data] for f in FEATURES}}):
        r = post(server, env, body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["predictions"] == expected
        assert np.allclose(out["probabilities"], proba)
        assert out["model"] == "fraud" and out["version"] == 1
        assert r.headers["x-request-id"] == out["request_id"] and len(out["request_id"]) >= 16


def test_client_request_id_is_kept_when_valid(server: str, env: Env) -> None:
    r = post(server, env, rows(1, 1), headers={"X-Request-ID": "order-42:a"})
    assert r.json()["request_id"] == "order-42:a" and r.headers["x-request-id"] == "order-42:a"
    r = post(server, env, rows(1, 1), headers={"X-Request-ID": "bad id with spaces"})
    assert r.json()["request_id"] != "bad id with spaces"


@pytest.mark.parametrize(
    ("mutate", "column", "words"),
    [
        (lambda r: r.pop("f3"), "f3", "missing column"),
        (lambda r: r.update(f5="1.5"), "f5", "number"),
        (lambda r: r.update(f6=True), "f6", "number"),
        (lambda r: r.update(extra=1.0), "extra", "unexpected column"),
    ],
)
def test_signature_errors_name_the_column(
    server: str, env: Env, mutate: Any, column: str, words: str
) -> None:
    data = rows(2, 5)
    mutate(data[1])
    r = post(server, env, data)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert f"'{column}'" in error["message"] and words in error["message"]


def test_unequal_columns_and_bad_shapes_are_422(server: str, env: Env) -> None:
    cols: dict[str, list[float]] = {f: [0.0] for f in FEATURES}
    cols["f0"] = [0.0, 1.0]
    assert post(server, env, {"columns": cols}).status_code == 422
    assert post(server, env, {"something": []}).status_code == 422
    assert post(server, env, []).status_code == 422


def test_auth_is_on_by_default(server: str, env: Env) -> None:
    r = httpx.post(server + "/predict", json=rows(1, 1))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"
    bad = {"Authorization": "Bearer shp_" + "x" * 43}
    assert httpx.post(server + "/predict", json=rows(1, 1), headers=bad).status_code == 401
    assert httpx.get(server + "/metrics").status_code == 401
    assert httpx.get(server + "/health").status_code == 200
    assert httpx.get(server + "/ready").json()["status"] == "ready"


def test_only_json_and_bounded_bodies(server: str, env: Env) -> None:
    r = httpx.post(
        server + "/predict",
        content=b"\x80\x04K\x01.",
        headers={**auth(env), "content-type": "application/python-pickle"},
    )
    assert r.status_code == 415
    big = rows(1, 1) * 400  # ~ 170 kB > 64 kB
    r = post(server, env, big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = httpx.post(
        server + "/predict", content=b"not json", headers={**auth(env), "content-type": "application/json"}
    )
    assert r.status_code == 422


def test_openapi_is_built_from_the_signature(server: str, env: Env) -> None:
    doc = httpx.get(server + "/openapi.json", headers=auth(env)).json()
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    row = doc["components"]["schemas"]["fraudRow"]
    assert sorted(row["required"]) == sorted(FEATURES) and row["properties"]["f0"]["type"] == "number"
    assert len(body["example"]) >= 1 and set(body["example"][0]) == set(FEATURES)
    assert "Swagger" in httpx.get(server + "/docs", headers=auth(env)).text


def test_metrics_in_prometheus_format(server: str, env: Env) -> None:
    post(server, env, rows(3, 2))
    text = httpx.get(server + "/metrics", headers=auth(env)).text
    assert 'shipyard_serving_requests_total{status="200",version="1"}' in text
    assert "shipyard_serving_request_latency_seconds_bucket" in text
    assert "shipyard_serving_batch_rows_bucket" in text and "shipyard_serving_queue_depth" in text
    assert 'shipyard_serving_prediction_log_dropped_total{reason="queue_full"} 0.0' in text


def test_unsafe_models_are_refused_unless_allowed(env: Env) -> None:
    with pytest.raises(SerializationError, match="--allow-unsafe-model"):
        create_serving_app(ServingConfig("models:/fraud/4"), stores=env.stores)
    app = create_serving_app(ServingConfig("models:/fraud/4", allow_unsafe_model=True), stores=env.stores)
    assert app.state.deployment.primary.version == 4


def test_no_auth_refuses_non_loopback(env: Env) -> None:
    from shipyard.serving.run import serve

    config = ServingConfig("models:/fraud@champion", auth=False)
    with pytest.raises(ConfigurationError, match="loopback"):
        serve(env.settings, config, host="0.0.0.0", port=1)


def test_no_auth_on_loopback_serves_without_tokens(env: Env) -> None:
    config = ServingConfig("models:/fraud@champion", auth=False)
    with live(create_serving_app(config, stores=env.stores)) as url:
        assert httpx.post(url + "/predict", json=rows(1, 1)).status_code == 200
