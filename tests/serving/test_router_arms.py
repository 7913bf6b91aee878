"""An experiment whose challenger is another deployment, through the agent's router in front of
two real ``shipyard serve`` apps: the router tells each backend the arm it assigned (signed with
the agent's key), each app logs it, and ``shipyard experiment status``'s reader gets per arm
exactly the requests the router split, leaving out the challenger deployment's own traffic. A
client's arm headers (through the router, or straight to a service, forged or replayed) are never
logged."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import httpx
import pytest

from shipyard.core.errors import InvalidInputError
from shipyard.deploy.agent.router import Router
from shipyard.deploy.agent.split import Split
from shipyard.experiments.armtag import headers as arm_headers
from shipyard.experiments.config import ExperimentSpec
from shipyard.experiments.data import read_rows
from shipyard.experiments.runner import evaluate
from shipyard.serving import ServingConfig, create_serving_app, read_prediction_log
from tests.serving.conftest import Env, auth, live, rows


def _app(env: Env, model: str, name: str, log_dir: str, key: str | None) -> object:
    config = ServingConfig(
        model, deployment=name, allow_unsafe_model=True, log_dir=log_dir, log_flush_s=0.05, router_key=key
    )
    return create_serving_app(config, stores=env.stores)


def _forged(rid: str) -> dict[str, str]:
    """A client's attempt: its own arm headers, with a signature made under another key."""
    fake = arm_headers(secrets.token_bytes(32), "ab", "challenger", rid)
    return {k.decode(): v.decode() for k, v in fake} | {"x-request-id": rid}


@pytest.mark.slow  # two live services, a router and the experiment reader end to end
def test_a_deployment_challenger_is_analysable_and_arm_headers_cannot_be_forged(env: Env) -> None:
    key = secrets.token_bytes(32)
    log_dir = str(env.root / f"log-arms-{secrets.token_hex(4)}")
    prod_app = _app(env, "models:/fraud@champion", "api", log_dir, key.hex())
    beta_app = _app(env, "models:/fraud@candidate", "beta", log_dir, key.hex())
    with live(prod_app) as prod_url, live(beta_app) as beta_url:

        async def run() -> Split:
            router = Router("api", "127.0.0.1", 0, arm_key=key)
            challenger = Router("beta", "127.0.0.1", 0, arm_key=key)  # beta's stable address
            await router.start()
            try:
                router.switch([int(prod_url.rsplit(":", 1)[1])])
                challenger.switch([int(beta_url.rsplit(":", 1)[1])])
                split = router.split = Split("ab", 30.0, challenger)
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{router.port}", timeout=30
                ) as client:
                    for i in range(160):
                        # every tenth forges its arm: the router drops the headers and assigns it
                        extra = _forged(f"c-{i}") if i % 10 == 0 else {}
                        r = await client.post("/predict", json=rows(1, i), headers={**auth(env), **extra})
                        assert r.status_code == 200, r.text
                        assert r.headers["x-shipyard-arm"] in ("control", "challenger")
                return split
            finally:
                await router.stop()

        split = asyncio.run(run())
        with httpx.Client(base_url=beta_url, timeout=30) as direct:  # beta's own traffic
            for i in range(25):
                extra = _forged(f"d-{i}") if i % 2 else {}
                assert (
                    direct.post("/predict", json=rows(1, i), headers={**auth(env), **extra}).status_code
                    == 200
                )
            # a real signature replayed under another request id is not believed either
            signed = {k.decode(): v.decode() for k, v in arm_headers(key, "ab", "challenger", "d-orig")}
            r = direct.post(
                "/predict", json=rows(1, 1), headers={**auth(env), **signed, "x-request-id": "d-new"}
            )
            assert r.status_code == 200
    assert split.arms["challenger"] > 20 and split.arms["control"] > 80 and split.fallbacks == 0
    beta = read_prediction_log(log_dir, "beta")
    assert len(beta) == split.arms["challenger"] + 26
    told = beta[beta["experiment"].notna()]
    assert len(told) == split.arms["challenger"] and set(told["arm"]) == {"challenger"}
    assert not told["request_id"].str.startswith("d-").any()  # no direct request got an arm
    api = read_prediction_log(log_dir, "api")
    assert len(api) == split.arms["control"] and set(api["arm"]) == {"control"}
    assert set(api["experiment"]) == {"ab"}
    spec = ExperimentSpec.model_validate(
        {
            "deployment": "api",
            "challenger": "beta",
            "share": 30,
            "metrics": [{"name": "latency_ms"}],
            "min_samples": 10,
        }
    )
    data = read_rows(spec, log_dir, None, None, "ab")
    result = evaluate(
        "ab", spec, data, datetime.fromtimestamp(int(data.ts_us.min()) / 1e6, UTC), datetime.now(UTC)
    )
    assert result.requests == (split.arms["control"], split.arms["challenger"])


def test_a_service_without_the_agents_key_ignores_arm_headers(env: Env) -> None:
    with pytest.raises(InvalidInputError, match="SHIPYARD_ROUTER_KEY"):
        ServingConfig("models:/fraud@champion", router_key="not hex")
    log_dir = str(env.root / f"log-nokey-{secrets.token_hex(4)}")
    key = secrets.token_bytes(32)
    with (
        live(_app(env, "models:/fraud@champion", "solo", log_dir, None)) as url,
        httpx.Client(base_url=url) as c,
    ):
        signed = {k.decode(): v.decode() for k, v in arm_headers(key, "ab", "challenger", "s-1")}
        r = c.post("/predict", json=rows(1, 1), headers={**auth(env), **signed, "x-request-id": "s-1"})
        assert r.status_code == 200
    log = read_prediction_log(log_dir, "solo")
    assert len(log) == 1 and "arm" not in log.columns and "experiment" not in log.columns


def test_serve_takes_the_key_out_of_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from shipyard.cli.serve import _router_key

    monkeypatch.setenv("SHIPYARD_ROUTER_KEY", "ab" * 32)
    assert _router_key() == "ab" * 32
    assert "SHIPYARD_ROUTER_KEY" not in os.environ  # the model's code and its children never see it
    assert _router_key() is None
