"""The agent runs an environment's experiments: a running experiment on a service starts the
challenger's slot (a model version) and splits the service's stable address between production and
the challenger by the experiment's share and unit; a challenger may be another deployment of the
environment; an experiment removed from the spec (or stopped) gives production all the traffic and
stops the slot. Backends here are small stand-ins for ``shipyard serve`` (answering ``/ready`` and
``/predict`` with the model they were started for), so the test is about the agent, not serving."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import psutil

from shipyard.core.settings import load_settings
from shipyard.deploy.agent import Agent, AgentOptions, SpecFileState, Timing
from shipyard.deploy.agent.commands import ServicePlan
from shipyard.deploy.agent.process import Child
from shipyard.experiments.armtag import verified
from shipyard.experiments.assign import arm
from tests.deploy.delivery_world import World

BACKEND = textwrap.dedent(
    """\
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    MODEL = sys.argv[2]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send({"versions": [MODEL]})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            names = ("x-shipyard-experiment", "x-shipyard-arm", "x-shipyard-arm-signature")
            told = {k: self.headers.get(k) for k in names}
            rid = self.headers.get("x-request-id")
            key = os.environ.get("SHIPYARD_ROUTER_KEY")
            self._send({"model": MODEL, "request_id": rid, "told": told, "key": key})

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)

SPEC = textwrap.dedent(
    """\
    project: {name: fraud}
    environments:
      staging: {}
    deployments:
      api: {model: "models:/fraud/1"}
      beta: {model: "models:/fraud/3"}
    """
)
STICKY = """\
experiments:
  ab: {deployment: api, environment: staging, challenger: "models:/fraud/2", share: 50, unit: customer_id}
"""
OTHER = """\
experiments:
  ab2: {deployment: api, environment: staging, challenger: beta, share: 40}
"""


class FakeServeAgent(Agent):
    def _launch_service(self, plan: ServicePlan, port: int) -> Child:
        argv = [sys.executable, "-c", BACKEND, str(port), plan.model]
        return Child(argv, self._service_env(), self.dir / f"{plan.name}.log")  # the key, as serve gets it


async def _until(check: object, what: str, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_the_agent_splits_a_deployment_by_its_running_experiment(tmp_path: Path) -> None:
    spec = tmp_path / "shipyard.yaml"
    spec.write_text(SPEC + STICKY)
    settings = load_settings(home=tmp_path / "home", uri="sqlite://", artifacts=str(tmp_path / "art"))
    timing = Timing(tick_s=0.05, standby_s=0, drain_s=2, stop_grace_s=2)
    options = AgentOptions(environment="staging", interval_s=3600.0, wake_check_s=0.05, timing=timing)
    lines: list[str] = []

    async def main() -> None:
        agent = FakeServeAgent(options, SpecFileState(spec), settings, report=lines.append)
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))

        def api() -> dict[str, Any]:
            return agent.status()["deployments"].get("api", {})  # type: ignore[no-any-return]

        def slot_state() -> Any:
            return (api().get("experiment") or {}).get("slot", {}).get("state")

        try:
            await _until(lambda: api().get("state") == "ready" and slot_state() == "ready", "both arms")
            url = str(api()["address"]) + "/predict"
            async with httpx.AsyncClient() as client:
                served: dict[int, set[str]] = {}
                for i in range(120):
                    customer = i % 40
                    r = await client.post(url, json=[{"customer_id": customer}])
                    assert r.status_code == 200, r.text
                    served.setdefault(customer, set()).add(r.json()["model"])
                    want = "challenger" if arm(str(customer), 50.0, "ab") else "control"
                    assert r.headers["x-shipyard-arm"] == want
                assert all(len(m) == 1 for m in served.values()), served  # sticky per customer
                models = {next(iter(m)) for m in served.values()}
                assert models == {"models:/fraud/1", "models:/fraud/2"}
                info = api()["experiment"]
                assert info["name"] == "ab" and info["unit"] == "customer_id"
                assert sum(info["requests"].values()) == 120
                r = await client.post(url, json=[{"x": 1}])
                assert r.status_code == 400 and r.json()["error"]["code"] == "missing_assignment_key"
                challenger_pids = [b["pid"] for b in info["slot"]["backends"]]
                assert any(p in [c["pid"] for c in agent.status()["children"]] for p in challenger_pids)

                # the challenger is another deployment of the environment, by request
                spec.write_text(SPEC + OTHER)
                await _until(
                    lambda: (api().get("experiment") or {}).get("name") == "ab2", "the new experiment"
                )
                await _until(lambda: not agent.challengers, "the model version's slot stopped")
                assert not any(
                    psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in challenger_pids
                )
                seen = set()
                forged = {"x-shipyard-arm": "challenger", "x-shipyard-experiment": "ab2"}
                for i in range(60):
                    r = await client.post(url, json=[{"x": 1}], headers=forged if i % 2 else {})
                    assert r.status_code == 200
                    answer = r.json()
                    seen.add(answer["model"])
                    # each backend (beta's own included) was told the arm, signed with the key the
                    # agent gave its services; the client's copy never reached it
                    key = bytes.fromhex(answer["key"])
                    told = verified(key, answer["told"], answer["request_id"])
                    assert told == ("ab2", r.headers["x-shipyard-arm"])
                    assert (answer["model"] == "models:/fraud/3") == (told[1] == "challenger")
                assert seen == {"models:/fraud/1", "models:/fraud/3"}

                # the experiment is gone from the spec: production takes everything
                spec.write_text(SPEC)
                await _until(lambda: "experiment" not in api(), "the experiment ended")
                for _ in range(20):
                    r = await client.post(url, json=[{"x": 1}])
                    assert r.json()["model"] == "models:/fraud/1" and "x-shipyard-arm" not in r.headers
        finally:
            stop.set()
            await task

    asyncio.run(main())
    assert any(
        "experiment ab sends 50% of units (by customer_id) to models:/fraud/2" in line for line in lines
    )
    assert any("experiment ab2 ended" in line for line in lines), lines


def test_a_stopped_experiment_and_a_bad_challenger_split_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "shipyard.yaml"
    stopped = STICKY.replace("unit: customer_id}", "unit: customer_id, status: stopped}")
    bad = OTHER.replace("challenger: beta", "challenger: nowhere")
    settings = load_settings(home=tmp_path / "home", uri="sqlite://", artifacts=str(tmp_path / "art"))
    timing = Timing(tick_s=0.05, standby_s=0, drain_s=2, stop_grace_s=2)
    options = AgentOptions(environment="staging", interval_s=3600.0, wake_check_s=0.05, timing=timing)

    async def main() -> None:
        for text, error in ((stopped, None), (bad, "'nowhere' is not another service deployment")):
            spec.write_text(SPEC + text)
            agent = FakeServeAgent(options, SpecFileState(spec), settings)
            await agent.start()
            try:
                deployment = agent.status()["deployments"]["api"]
                assert "experiment" not in deployment and not agent.challengers
                assert agent.services["api"].router.split is None
                if error:
                    assert error in deployment["error"]
                else:
                    assert "api" not in agent.errors
            finally:
                await agent.shutdown()

    asyncio.run(main())


def test_the_applied_state_carries_the_environments_experiments(world: World) -> None:
    """What `shipyard apply` and `shipyard experiment stop` record is what the agent splits by."""
    from shipyard.deploy import experiments as ex
    from shipyard.deploy.agent import AppliedState
    from shipyard.deploy.apply import apply
    from tests.deploy.delivery_world import SPEC as WORLD_SPEC
    from tests.deploy.delivery_world import spec_of
    from tests.deploy.test_experiments import EXPERIMENT, _ready

    _ready(world)
    apply(
        spec_of(WORLD_SPEC.replace("overrides:", EXPERIMENT + "overrides:")),
        "staging",
        delivery=world.delivery,
        facts=world.facts(),
        user="alice",
    )
    state = AppliedState(world.delivery, "fraud")
    desired = state.desired("staging")
    running = desired.experiments["fraud-v2"]
    assert (running.deployment, running.challenger, running.sticky_key) == (
        "api",
        "models:/fraud/2",
        "customer_id",
    )
    assert running.effective_share == 20
    ex.stop(world.delivery, "fraud", "staging", "fraud-v2", user="alice", reason="guardrail")
    assert state.desired("staging").experiments["fraud-v2"].effective_share == 0


def test_a_promoted_challenger_serves_production_without_a_cold_start(tmp_path: Path) -> None:
    """The experiment ends and production now runs exactly the challenger's model (a promotion):
    production takes the challenger's processes — the rollout is a router switch — and no request
    fails meanwhile."""
    spec = tmp_path / "shipyard.yaml"
    spec.write_text(SPEC + STICKY)
    settings = load_settings(home=tmp_path / "home", uri="sqlite://", artifacts=str(tmp_path / "art"))
    timing = Timing(tick_s=0.05, standby_s=0, drain_s=2, stop_grace_s=2)
    options = AgentOptions(environment="staging", interval_s=3600.0, wake_check_s=0.05, timing=timing)
    lines: list[str] = []

    async def main() -> None:
        agent = FakeServeAgent(options, SpecFileState(spec), settings, report=lines.append)
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))

        def api() -> dict[str, Any]:
            return agent.status()["deployments"].get("api", {})  # type: ignore[no-any-return]

        try:
            await _until(
                lambda: (
                    api().get("state") == "ready"
                    and (api().get("experiment") or {}).get("slot", {}).get("state") == "ready"
                ),
                "both arms",
            )
            challenger_pid = api()["experiment"]["slot"]["backends"][0]["pid"]
            url = str(api()["address"]) + "/predict"
            statuses: list[int] = []
            async with httpx.AsyncClient() as client:
                promoted = SPEC.replace('api: {model: "models:/fraud/1"}', 'api: {model: "models:/fraud/2"}')
                spec.write_text(promoted)  # the promotion: production on the challenger's version
                started = asyncio.get_running_loop().time()
                while not (api().get("version") == "fraud/2" and api().get("state") == "ready"):
                    r = await client.post(url, json=[{"customer_id": len(statuses)}])
                    statuses.append(r.status_code)
                    assert asyncio.get_running_loop().time() - started < 30, "not promoted"
                took = asyncio.get_running_loop().time() - started
                r = await client.post(url, json=[{"customer_id": 1}])
                assert r.json()["model"] == "models:/fraud/2" and "x-shipyard-arm" not in r.headers
            assert set(statuses) <= {200}, statuses
            assert [b["pid"] for b in api()["backends"]] == [challenger_pid]  # the same process
            assert not agent.challengers and "experiment" not in api()
            assert took < 10
        finally:
            stop.set()
            await task

    asyncio.run(main())
    assert any("its challenger's processes serve production now" in line for line in lines), lines
    assert any("switching back to the warm fraud/2" in line for line in lines), lines
