"""The local runtime under load: a rollout from one model version to another, then a rollback.

    PYTHONPATH=src .venv/bin/python bench/delivery_rollout.py [--rate 200] [--quick]

A registry with two versions of ``fraud`` (scikit-learn), ``shipyard agent -e dev`` as a
subprocess, and an open-loop load of ``--rate`` requests a second (single-row JSON predictions,
with a token; request i is due at i / rate whatever the answers before it took, on up to 32
keep-alive connections: ``tests.deploy.agent_env.Load``) at the deployment's router the whole
time. Phases, each with the load on:

1. steady on version 1;
2. rollout to version 2 (the spec changes, SIGHUP): a new ``shipyard serve`` starts, becomes
   ready, the router switches, version 1 drains;
3. rollback to version 1 — by default the previous version stays warm (``--standby`` 1800 s):
   a router switch;
4. (not with ``--quick``) the same rollback by an agent with ``--standby 0``: a cold start of
   version 1.

``--experiment`` instead: on version 1, an A/B experiment (version 2 as the challenger, 50% of
requests) is started, the challenger's slot starts and the router splits; then the challenger is
promoted (production moves to version 2, the experiment ends). Printed: failures (target 0), the
challenger's share of the answers, the time from the promotion to the last version-1 answer, and
whether production now runs the challenger's process (adopted, no cold start).

Every response is counted; a failure is anything but 200 (or a transport error). Printed: requests,
the rate achieved (answers within the load's span per second), latency p50/p99 (from when each
request was due), failures (the target is 0), the rollout's time (apply -> first answer from the
new version) and the rollback's (target < 5 s), the memory the warm standby holds (resident set of
its processes) and, to tell the router's cost from the machine's, the rate the same clients reach
for 5 s against the backend directly and then through the router, before the rollout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.deploy.agent_env import TOKEN, AgentProcess, Load, register_models  # noqa: E402

API = "  api:\n    model: models:/fraud/{version}\n"


def ready(agent: AgentProcess, version: int) -> bool:
    dep = agent.deployment("api")
    return dep.get("state") == "ready" and dep.get("version") == f"fraud/{version}"


def rss_mib(pids: list[int]) -> tuple[float, float]:
    """(resident, unique) MiB of ``pids`` and their children: resident counts the shared libraries'
    pages the serving generation maps too; unique (USS) is what stopping them would free."""
    import psutil

    rss = uss = 0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                info = p.memory_full_info()
                rss, uss = rss + info.rss, uss + info.uss
        except psutil.Error:
            continue
    return rss / 2**20, uss / 2**20


def direct_vs_router(address: str, backend: str, rate: float) -> dict[str, float]:
    """The rate the same clients reach in 5 s against the backend itself and through the router."""
    out: dict[str, float] = {}
    for label, base in (("direct", backend), ("router", address)):
        load = Load(base + "/predict", {"Authorization": f"Bearer {TOKEN}"}, rate=rate)
        load.start()
        time.sleep(5)
        load.stop()
        out[label] = round(load.rate_achieved, 1)
        out[f"{label}_failures"] = len(load.failures)
    return out


def run(root: Path, env: dict[str, str], rate: float, standby: float | None, label: str) -> dict[str, Any]:
    spec = root / f"shipyard-{label}.yaml"
    agent = AgentProcess(root, env, spec)
    agent.apply(API.format(version=1))
    extra = [] if standby is None else ["--standby", str(standby)]
    agent.start("--interval", "3600", *extra, "--drain", "10")
    try:
        agent.wait(lambda: ready(agent, 1), "version 1", timeout_s=600)
        address = agent.deployment("api")["address"]
        backend = f"http://127.0.0.1:{agent.deployment('api')['backends'][0]['port']}"
        compared = direct_vs_router(address, backend, rate)
        load = Load(address + "/predict", {"Authorization": f"Bearer {TOKEN}"}, rate=rate)
        load.start()
        marks: dict[str, float] = {}
        try:
            time.sleep(3)
            marks["rollout_asked"] = time.monotonic()
            agent.apply(API.format(version=2))
            agent.wait(lambda: ready(agent, 2), "the rollout", timeout_s=600)
            time.sleep(2)
            warm = agent.deployment("api").get("standby") or {}
            standby_mib = rss_mib(list(warm.get("pids") or []))
            marks["rollback_asked"] = time.monotonic()
            agent.apply(API.format(version=1))
            agent.wait(lambda: ready(agent, 1), "the rollback", timeout_s=600)
            time.sleep(2)
        finally:
            load.stop()
        rollout = load.first(2, after=marks["rollout_asked"])
        rollback = load.first(1, after=marks["rollback_asked"])
        statuses: dict[str, int] = {}
        for _, status, _ in load.failures:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        return {
            "agent": label,
            "requests": len(load.results),
            "rate_per_s": round(load.rate_achieved, 1),
            "p50_ms": round(load.percentile(50), 1),
            "p99_ms": round(load.percentile(99), 1),
            "failures": len(load.failures),
            "failure_statuses": statuses,
            "rollout_s": round(rollout - marks["rollout_asked"], 2) if rollout else None,
            "rollback_s": round(rollback - marks["rollback_asked"], 2) if rollback else None,
            "rollout_reported_s": agent.deployment("api")["rollout"]["seconds"],
            "standby_rss_mib": round(standby_mib[0], 1),
            "standby_uss_mib": round(standby_mib[1], 1),
            **compared,
        }
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.stop()


EXPERIMENT = (
    "experiments:\n  ab: {deployment: api, environment: dev, challenger: 'models:/fraud/2', share: 50}\n"
)


def experiment(root: Path, env: dict[str, str], rate: float) -> dict[str, Any]:
    """An A/B experiment through the router under load, then its challenger promoted."""
    spec = root / "shipyard-experiment.yaml"
    agent = AgentProcess(root, env, spec)
    agent.apply(API.format(version=1))
    agent.start("--interval", "3600", "--drain", "10")

    def arms() -> dict[str, Any]:
        return agent.deployment("api").get("experiment") or {}

    try:
        agent.wait(lambda: ready(agent, 1), "version 1", timeout_s=600)
        address = agent.deployment("api")["address"]
        load = Load(address + "/predict", {"Authorization": f"Bearer {TOKEN}"}, rate=rate)
        load.start()
        marks: dict[str, float] = {}
        try:
            time.sleep(3)
            marks["started"] = time.monotonic()
            agent.apply(API.format(version=1) + EXPERIMENT)
            agent.wait(lambda: (arms().get("slot") or {}).get("state") == "ready", "the challenger", 600)
            marks["split"] = time.monotonic()
            time.sleep(5)
            split = arms()
            challenger_pids = [b["pid"] for b in split["slot"]["backends"]]
            marks["promoted"] = time.monotonic()
            agent.apply(API.format(version=2))  # the promotion: production on the challenger's version
            agent.wait(lambda: ready(agent, 2) and not arms(), "the promotion", timeout_s=600)
            marks["done"] = time.monotonic()
            time.sleep(2)
        finally:
            load.stop()
        during = [r for r in load.results if marks["split"] <= r[0] < marks["promoted"]]
        last_v1 = max((t for t, status, v in load.results if status == 200 and v == 1), default=0.0)
        return {
            "requests": len(load.results),
            "rate_per_s": round(load.rate_achieved, 1),
            "p99_ms": round(load.percentile(99), 1),
            "failures": len(load.failures),
            "challenger_share": round(sum(1 for r in during if r[2] == 2) / max(len(during), 1) * 100, 1),
            "router_arms": split.get("requests"),
            "fallbacks": split.get("fallbacks"),
            "slot_ready_s": round(marks["split"] - marks["started"], 2),
            "promotion_s": round(max(last_v1 - marks["promoted"], 0.0), 2),
            "same_process": [b["pid"] for b in agent.deployment("api")["backends"]] == challenger_pids,
        }
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests a second, in all")
    parser.add_argument("--quick", action="store_true", help="skip the cold rollback (no standby)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--experiment", action="store_true", help="instead: an A/B experiment under load, then a promotion"
    )
    args = parser.parse_args()
    if args.experiment:
        with tempfile.TemporaryDirectory(prefix="shipyard-rollout-") as tmp:
            figures = experiment(Path(tmp), register_models(Path(tmp)), args.rate)
        print(
            f"[experiment] {figures['requests']} requests at {figures['rate_per_s']:.0f} req/s, failures "
            f"{figures['failures']} (target 0), p99 {figures['p99_ms']} ms; challenger slot ready "
            f"{figures['slot_ready_s']} s after the experiment started; challenger's share of answers "
            f"{figures['challenger_share']}% (50% asked; router: {figures['router_arms']}, fallbacks "
            f"{figures['fallbacks']}); promotion: the last version-1 answer {figures['promotion_s']} s "
            f"after it was asked, production now the challenger's process: {figures['same_process']}"
        )
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return
    with tempfile.TemporaryDirectory(prefix="shipyard-rollout-") as tmp:
        root = Path(tmp)
        env = register_models(root)
        results = [run(root, env, args.rate, None, "default")]
        if not args.quick:
            results.append(run(root, env, args.rate, 0.0, "cold"))
    for r in results:
        print(
            f"[{r['agent']:>7}] {r['requests']} requests at {r['rate_per_s']:.0f} req/s, "
            f"failures {r['failures']} (target 0) {r['failure_statuses'] or ''}, "
            f"latency p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms; "
            f"rollout 1->2 {r['rollout_s']} s (new process started and ready); "
            f"rollback 2->1 {r['rollback_s']} s (target < 5 s); warm standby holds "
            f"{r['standby_uss_mib']} MiB of its own ({r['standby_rss_mib']} MiB resident); "
            f"before: direct {r['direct']} req/s, via the router {r['router']} req/s"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
