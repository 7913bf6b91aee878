"""An A/B experiment inside ``shipyard serve``: sticky assignment by a request key, shares within
tolerance, a missing key refused with a 400 naming it, arms and failures in the prediction log
(analysed into a guardrail breach), and the challenger stopped by the recorded state."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shipyard.core.errors import InvalidInputError
from shipyard.experiments.config import ExperimentSpec
from shipyard.experiments.data import read_rows
from shipyard.experiments.runner import evaluate
from shipyard.serving import Route, ServingConfig, create_serving_app, read_prediction_log
from shipyard.serving.experiment import watch
from tests.serving.conftest import Env, auth, live, rows


def _config(env: Env, name: str, challenger: str = "candidate", **kw: object) -> ServingConfig:
    return ServingConfig(
        "models:/fraud@champion",
        routes=(Route("champion", 80), Route(challenger, 20)),
        experiment=name,
        allow_unsafe_model=True,
        log_flush_s=0.05,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.slow  # a real log, labels and stores end to end
def test_assignment_is_sticky_by_key_and_shares_hold(env: Env) -> None:
    config = _config(env, "ab-sticky", assign_key="customer_id", log_dir=None)
    app = create_serving_app(config, stores=env.stores)
    deployment = app.state.deployment
    units = [f"customer-{i}" for i in range(10_000)]
    labels = [deployment.route(u).label for u in units]
    assert abs(labels.count("2") / len(labels) - 0.20) < 0.015
    assert [deployment.route(u).label for u in units[:500]] == labels[:500]
    with live(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        seen: dict[str, set[int]] = {}
        for i in range(120):
            customer = f"customer-{i % 30}"
            r = client.post(
                f"/predict?customer_id={customer}",
                json=rows(1, i),
                headers={**auth(env), "X-Request-ID": uuid.uuid4().hex},
            )
            assert r.status_code == 200, r.text
            seen.setdefault(customer, set()).add(r.json()["version"])
            assert str(r.json()["version"]) == deployment.route(customer).label
        assert all(len(v) == 1 for v in seen.values())  # each customer always on one version
        missing = client.post("/predict", json=rows(1, 1), headers=auth(env))
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "missing_assignment_key"
    assert "'customer_id'" in missing.json()["error"]["message"]


def test_experiment_config_needs_two_routes() -> None:
    with pytest.raises(InvalidInputError, match="two --route"):
        ServingConfig("models:/fraud@champion", experiment="x")
    with pytest.raises(InvalidInputError, match="--assign-key"):
        ServingConfig(
            "models:/fraud@champion",
            routes=(Route("champion", 50), Route("candidate", 50)),
            experiment="x",
            assign_key="bad key",
        )


@pytest.mark.slow  # a real log, labels and stores end to end
def test_arms_and_failures_are_logged_and_the_error_guardrail_trips(env: Env) -> None:
    log_dir = env.root / "log-ab-errors"
    config = _config(env, "ab-errors", log_dir=str(log_dir), deployment="ab-errors")
    app = create_serving_app(config, stores=env.stores)
    started = datetime.now(UTC) - timedelta(seconds=1)

    def boom(data: object) -> object:
        raise RuntimeError("boom: the challenger fails")

    with live(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        app.state.deployment.variants[1].predict = boom  # after its warm-up: every request fails
        statuses = Counter(
            client.post(
                "/predict", json=rows(1, i), headers={**auth(env), "X-Request-ID": f"r-{i}"}
            ).status_code
            for i in range(250)
        )
    assert statuses[500] > 25 and statuses[200] > 150
    log = read_prediction_log(str(log_dir), "ab-errors")
    assert set(log["arm"]) == {"control", "challenger"}
    assert set(log[log["role"] == "error"]["arm"]) == {"challenger"}
    assert (log["role"] == "error").sum() == statuses[500]
    spec = ExperimentSpec.model_validate(
        {
            "deployment": "ab-errors",
            "challenger": "models:/fraud/2",
            "share": 20,
            "metrics": [{"name": "error_rate"}, {"name": "latency_ms"}],
            "min_samples": 20,
            "guardrails": {"error_rate": 0.05, "min_requests": 20},
        }
    )
    result = evaluate(
        "ab-errors", spec, read_rows(spec, str(log_dir), None, None), started, datetime.now(UTC)
    )
    assert result.requests == (statuses[200], statuses[500])
    assert result.metrics[0].decision == "worse"
    assert [b.guardrail for b in result.breaches] == ["error_rate"]
    assert result.breaches[0].value > 0.5  # every challenger request failed


def test_a_recorded_stop_sends_the_challenger_to_zero(env: Env) -> None:
    config = _config(env, "ab-stop", log_dir=None)
    deployment = create_serving_app(config, stores=env.stores, security=object()).state.deployment  # type: ignore[arg-type]
    units = [uuid.uuid4().hex for _ in range(2000)]
    assert any(deployment.route(u).label == "2" for u in units)
    answers = iter([20.0, None, 0.0])
    started = time.monotonic()
    asyncio.run(watch(deployment, lambda: next(answers), 0.01))
    assert time.monotonic() - started < 5
    assert deployment.challenger_share == 0
    assert {deployment.route(u).label for u in units} == {"1"}
