"""Micro-batching under concurrency: each caller gets its own rows back, in order, and batches of
more than one request really form; overload answers 503 quickly and recovers; timeouts are 504."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import numpy as np
import pandas as pd

from shipyard.serving import ServingConfig, create_serving_app
from tests.serving.conftest import Env, auth, live, rows


def _histogram_sum(text: str, name: str, version: str) -> tuple[float, float]:
    count = float(re.search(rf'{name}_count{{version="{version}"}} (\S+)', text).group(1))  # type: ignore[union-attr]
    total = float(re.search(rf'{name}_sum{{version="{version}"}} (\S+)', text).group(1))  # type: ignore[union-attr]
    return count, total


def test_concurrent_callers_get_their_own_rows_in_order(env: Env) -> None:
    config = ServingConfig("models:/fraud@champion", max_batch_size=256, max_wait_ms=20, log_dir=None)
    payloads = [rows(1 + i % 5, 1000 + i) for i in range(64)]

    async def main(url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=url, headers=auth(env), limits=limits, timeout=30) as client:
            return await asyncio.gather(*(client.post("/predict", json=p) for p in payloads))

    with live(create_serving_app(config, stores=env.stores)) as url:
        responses = asyncio.run(main(url))
        metrics = httpx.get(url + "/metrics", headers=auth(env)).text
    model = env.models[1]
    for payload, r in zip(payloads, responses, strict=True):
        assert r.status_code == 200, r.text
        frame = pd.DataFrame(payload)
        assert r.json()["predictions"] == model.predict(frame).tolist()
        assert np.allclose(r.json()["probabilities"], model.predict_proba(frame))
    calls, requests = _histogram_sum(metrics, "shipyard_serving_batch_requests", "1")
    assert requests >= 64 and calls < requests, f"no batch of more than one request formed: {calls} calls"


def test_overload_answers_503_fast_and_recovers(env: Env) -> None:
    # version 4 sleeps 0.2 s per model call; one waiting request at most
    config = ServingConfig(
        "models:/fraud/4", allow_unsafe_model=True, max_queue=1, max_batch_size=1, max_wait_ms=0, log_dir=None
    )

    async def burst(url: str) -> list[tuple[int, float, str | None]]:
        async with httpx.AsyncClient(base_url=url, headers=auth(env), timeout=30) as client:

            async def one(i: int) -> tuple[int, float, str | None]:
                started = time.perf_counter()
                r = await client.post("/predict", json=rows(1, i))
                return r.status_code, time.perf_counter() - started, r.headers.get("retry-after")

            return await asyncio.gather(*(one(i) for i in range(12)))

    with live(create_serving_app(config, stores=env.stores)) as url:
        results = asyncio.run(burst(url))
        rejected = [r for r in results if r[0] == 503]
        assert rejected, results
        assert all(r[2] == "1" for r in rejected)
        served = [r[1] for r in results if r[0] == 200]
        assert served, results
        # refused at once, not after queueing: before the first admitted request's model call (0.2 s)
        # ended (relative to it, so a busy machine slows both sides alike; 0.5 s flaked at load 9)
        assert max(r[1] for r in rejected) < min(served), results
        time.sleep(0.5)
        r = httpx.post(url + "/predict", json=rows(1, 1), headers=auth(env), timeout=10)
        assert r.status_code == 200  # recovered
        text = httpx.get(url + "/metrics", headers=auth(env)).text
        # refused at the admission gate (before routing: version "-") or by the full queue ("4")
        assert re.search(r'shipyard_serving_errors_total{kind="overloaded",version="(-|4)"} [1-9]', text)
        assert re.search(r'shipyard_serving_requests_total{status="503",version="(-|4)"} [1-9]', text)


def test_slow_model_times_out_with_504(env: Env) -> None:
    config = ServingConfig("models:/fraud/4", allow_unsafe_model=True, timeout_s=0.05, log_dir=None)
    with live(create_serving_app(config, stores=env.stores)) as url:
        r = httpx.post(url + "/predict", json=rows(1, 1), headers=auth(env), timeout=10)
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
