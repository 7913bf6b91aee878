"""Delivery benchmark: ``shipyard plan`` of a spec with 200 deployments over 3 environments, a
rollback to the previous release, and ``shipyard sync`` seeing a new commit.

Run: ``python bench/delivery.py [--deployments 200] [--models 20] [--repeat 5]``. A fresh SQLite
database gets ``--models`` registered models (each approved, @candidate, with an f1 metric); the
spec's deployments use them round-robin; production requires approval and min_quality. Prints
the median wall time of a first plan of all three environments (every object created, every model
resolved and judged), of the same after they were applied (every object unchanged), of the apply of
one changed deployment, and of a rollback. Then the sync loop: the spec is committed to a local git
repository, a first pass applies it; a commit changes one deployment, and the bench times one
pass (fetch, read at the head, plan and apply the three environments: the desired state
recorded) and, with the loop running (interval 30 s, wake check 0.5 s as ``shipyard sync``
defaults), the time from a webhook's wake-up to the release recorded. Targets (issue 15): plan
< 1 s, rollback < 5 s, a new commit converged < 10 s.

``--e2e`` measures instead the whole way from a commit to the new version answering: a registry
with ``fraud`` 1 and 2, a git repository whose spec serves version 1, ``shipyard sync``'s loop
(in this process, ``--sync-wake-check`` as its ``--wake-check``) and ``shipyard agent --applied``
(a subprocess, default interval 10 s, wake check 0.5 s, its spare process on; ``--no-spare``
turns it off) serving it; before each commit the bench waits until the agent's spare is ready (as
it is between commits minutes apart), then a commit that moves the
deployment to version 2 and a webhook's wake-up (``request_sync``, what ``POST .../sync/hook``
does), and a client asking the deployment's stable address every 50 ms until version 2 answers.
Printed: commit -> release recorded, -> the agent's rollout started (it woke on the release, not
at its interval), -> version 2 answering, and the rollout itself (a new ``shipyard serve`` started
and ready); ``--repeat`` rounds alternate 1 -> 2 and 2 -> 1 (the way back is a warm switch).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from shipyard.core.entities import Metric, RunCreate
from shipyard.deploy.apply import apply, rollback
from shipyard.deploy.facts import StoreFacts
from shipyard.deploy.plan import make_plan
from shipyard.deploy.spec.load import parse, validate
from shipyard.deploy.spec.models import Spec
from shipyard.metadata import open_metadata_store
from shipyard.metadata.base import MetadataStore
from shipyard.metadata.delivery import DeliveryStore, open_delivery_store
from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store

ENVS = ("dev", "staging", "production")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def spec_text(deployments: int, models: int, replicas: int = 1) -> str:
    lines = [
        "project: {name: bench}",
        "environments:",
        "  dev: {}",
        "  staging: {}",
        "  production:",
        "    policies:",
        "      models: {require: {approved: true, min_quality: {f1: 0.8}}}",
        "deployments:",
    ]
    for i in range(deployments):
        lines += [
            f"  svc-{i:04d}:",
            f"    model: models:/model-{i % models:03d}@candidate",
            f"    replicas: {replicas if i == 0 else 1}",
            "    resources: {cpu: 1, memory: 1Gi}",
            "    autoscaling: {min_replicas: 1, max_replicas: 4}",
        ]
    lines += ["overrides:", "  production:", "    deployments:", "      svc-0000: {replicas: 3}"]
    return "\n".join(lines) + "\n"


def _models(metadata: MetadataStore, count: int) -> None:
    registry = open_registry_store(metadata)
    for i in range(count):
        run_id = uuid.uuid4().hex
        metadata.create_run(RunCreate(run_id, "train", "user:bench", "bench", T0))
        metadata.log_metrics(run_id, [Metric("f1", 0.9)])
        name = f"model-{i:03d}"
        version = registry.create_version(
            ModelVersionCreate(name, "a" * 64, 1, "sklearn", "bench", T0, run_id=run_id)
        ).version
        registry.set_approval(name, version, True, user="approver", at=T0)
        registry.set_alias(name, "candidate", version, user="bench", at=T0)


def _time(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def _git(root: Path, *args: str) -> str:
    import subprocess

    cmd = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def _commit(repo: Path, text: str) -> str:
    (repo / "shipyard.yaml").write_text(text)
    _git(repo, "commit", "-qam", "change")
    return _git(repo, "rev-parse", "HEAD")


def _sync(
    tmp: Path, metadata: MetadataStore, delivery: DeliveryStore, args: argparse.Namespace
) -> tuple[float, float]:
    """One sync pass after a commit, and a webhook's wake-up to the release with the loop running."""
    import threading

    from shipyard.deploy.sync import Syncer, SyncOptions

    repo = tmp / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "shipyard.yaml").write_text(spec_text(args.deployments, args.models))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "first")
    syncer = Syncer(
        SyncOptions(str(repo), wake_check_s=0.5, interval_s=30.0),
        tmp / "home",
        delivery,
        lambda: StoreFacts(metadata, delivery, "sync"),
        "sync",
    )
    syncer.sync_once()
    head = _commit(repo, spec_text(args.deployments, args.models, replicas=5))
    start = time.perf_counter()
    done = syncer.sync_once()
    one_pass = time.perf_counter() - start
    assert [e.report.status for e in done.environments] == ["synced"] * 3, done
    assert delivery.list_releases("bench", "staging", limit=1)[0].commit == head

    passes: list[object] = []
    stop = threading.Event()
    thread = threading.Thread(target=syncer.run, args=(stop, passes.append))
    thread.start()
    try:
        while not passes:
            time.sleep(0.01)
        head = _commit(repo, spec_text(args.deployments, args.models, replicas=6))
        start = time.perf_counter()
        delivery.request_sync("bench", "staging", by="webhook")
        while delivery.list_releases("bench", "staging", limit=1)[0].commit != head:
            time.sleep(0.02)
        woken = time.perf_counter() - start
    finally:
        stop.set()
        thread.join()
    return one_pass, woken


def _e2e(args: argparse.Namespace) -> None:
    """Commit -> the new version answering at the deployment's address (see the module doc)."""
    import sys
    import threading

    import httpx

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.deploy.agent_env import SPEC, TOKEN, AgentProcess, register_models, row

    from shipyard.deploy.sync import Syncer, SyncOptions

    api = "  api:\n    model: models:/fraud/{version}\n"

    def text(version: int, mode: str) -> str:
        return SPEC.format(deployments=api.format(version=version)).replace("MODE: dev", f"MODE: {mode}")

    with tempfile.TemporaryDirectory(prefix="shipyard-e2e-") as tmp:
        root = Path(tmp)
        env = register_models(root)
        repo = root / "repo"
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        spec = repo / "shipyard.yaml"
        spec.write_text(text(1, "r0"))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", "v1")
        metadata = open_metadata_store(env["SHIPYARD_URI"])
        delivery = open_delivery_store(metadata)
        syncer = Syncer(
            SyncOptions(str(repo), wake_check_s=args.sync_wake_check, interval_s=30.0),
            root / "home",
            delivery,
            lambda: StoreFacts(metadata, delivery, "sync"),
            "sync",
        )
        syncer.sync_once()
        agent = AgentProcess(root, env, spec)
        agent.start("--applied", "--project", "fraud", *(["--no-spare"] if args.no_spare else []))

        def spare_ready() -> bool:
            return bool((agent.status().get("agent", {}).get("spare") or {}).get("ready"))

        stop = threading.Event()
        thread = threading.Thread(target=syncer.run, args=(stop, lambda _p: None), daemon=True)
        rows: list[dict[str, float]] = []
        version = 1
        try:
            agent.wait(lambda: agent.deployment("api").get("version") == "fraud/1", "version 1", 600)
            address = agent.deployment("api")["address"] + "/predict"
            thread.start()
            client = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
            for i in range(args.repeat + 1):
                back = i == args.repeat  # last: `shipyard rollback` to the previous release (warm)
                version = 2 if version == 1 else 1
                idle = time.perf_counter()
                if not back and not args.no_spare:  # an agent between commits has its spare ready
                    agent.wait(spare_ready, "the agent's spare process", 300)
                idle = time.perf_counter() - idle
                wall, start = datetime.now(UTC), time.perf_counter()
                if back:
                    facts = StoreFacts(metadata, delivery, "bench")
                    done = rollback("fraud", "dev", delivery=delivery, facts=facts, user="bench")
                    number = done.release.number if done.release else 0
                else:  # a new commit: the other version and a new setting (a new process)
                    head = _commit(repo, text(version, f"r{i + 1}"))
                    wall, start = datetime.now(UTC), time.perf_counter()
                    delivery.request_sync("fraud", "dev", by="webhook")
                recorded = None
                while True:
                    if recorded is None:
                        newest = delivery.list_releases("fraud", "dev", limit=1)[0]
                        if (back and newest.number == number) or (not back and newest.commit == head):
                            recorded = time.perf_counter() - start
                    answer = client.post(address, json=[row()])
                    if answer.status_code == 200 and answer.json().get("version") == version:
                        break
                    time.sleep(0.05)
                answered = time.perf_counter() - start
                agent.wait(
                    lambda v=version: (
                        agent.deployment("api").get("state") == "ready"  # type: ignore[misc]
                        and agent.deployment("api").get("version") == f"fraud/{v}"
                    ),
                    "the status",
                )
                rollout = agent.deployment("api").get("rollout") or {}
                began = datetime.fromisoformat(rollout["started_at"]) if rollout.get("started_at") else None
                rows.append(
                    {
                        "rollback": float(back),
                        "to": version,
                        "release": recorded if recorded is not None else answered,
                        "rollout_started": (began - wall).total_seconds() if began else float("nan"),
                        "answering": answered,
                        "rollout": float(rollout.get("seconds") or "nan"),
                        "idle": idle,
                    }
                )
                time.sleep(1.0)
        finally:
            stop.set()
            thread.join(timeout=60)
            agent.stop()
            metadata.close()
    spare = "--no-spare" if args.no_spare else "its spare ready before each commit"
    print(f"commit + webhook -> runtime converged (shipyard sync loop + shipyard agent --applied, {spare}):")
    for r in rows:
        what = "rollback        " if r["rollback"] else "commit + webhook"
        print(
            f"  {what} -> v{r['to']:.0f}: release recorded {r['release']:.2f} s, agent's rollout "
            f"started {r['rollout_started']:.2f} s, new version answering {r['answering']:.2f} s "
            f"(the rollout itself {r['rollout']:.2f} s; waited {r['idle']:.1f} s for the spare first)"
        )
    commits = [r for r in rows if not r["rollback"]]
    pipeline = statistics.median(r["rollout_started"] for r in commits)
    print(
        f"  median commit -> converged: {statistics.median(r['answering'] for r in commits):.2f} s "
        f"(target < 10 s), of which commit -> the agent's rollout started {pipeline:.2f} s and the "
        f"rollout (a cold start of shipyard serve) {statistics.median(r['rollout'] for r in commits):.2f} s"
    )
    warm = [r["answering"] for r in rows if r["rollback"]]
    print(f"  rollback -> the previous version answering (warm standby): {warm[0]:.2f} s (target < 5 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5, help="rounds (with --e2e: commits)")
    parser.add_argument("--e2e", action="store_true", help="commit -> the new version answering (see above)")
    parser.add_argument("--no-spare", action="store_true", help="with --e2e: the agent with --no-spare")
    parser.add_argument("--sync-wake-check", type=float, default=0.5, help="with --e2e: the sync loop's")
    args = parser.parse_args()
    if args.e2e:
        _e2e(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        metadata = open_metadata_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            _models(metadata, args.models)
            delivery = open_delivery_store(metadata)
            spec: Spec = validate(parse(spec_text(args.deployments, args.models), "shipyard.yaml"))

            def plan_all() -> None:
                facts = StoreFacts(metadata, delivery, "bench")  # one per plan: nothing cached between runs
                for env in ENVS:
                    plan = make_plan(spec, env, delivery=delivery, facts=facts)
                    assert not plan.refusals, plan.refusals[:1]

            first = statistics.median(_time(plan_all) for _ in range(args.repeat))
            for env in ENVS:
                apply(
                    spec, env, delivery=delivery, facts=StoreFacts(metadata, delivery, "bench"), user="bench"
                )
            steady = statistics.median(_time(plan_all) for _ in range(args.repeat))
            changed = validate(parse(spec_text(args.deployments, args.models, replicas=2), "shipyard.yaml"))
            one = _time(
                lambda: apply(
                    changed, "staging", delivery=delivery, facts=StoreFacts(metadata, delivery, "b"), user="b"
                )
            )
            back = _time(
                lambda: rollback(
                    "bench", "staging", delivery=delivery, facts=StoreFacts(metadata, delivery, "b"), user="b"
                )
            )
            sync_pass, woken = _sync(Path(tmp), metadata, delivery, args)
        finally:
            metadata.close()
    objects = args.deployments + 1
    print(f"plan, {args.deployments} deployments x {len(ENVS)} environments ({objects} objects each):")
    print(
        f"  first plan (all created, {args.models} models resolved and judged): {first:.3f} s  (target < 1 s)"
    )
    print(f"  plan after apply (all unchanged):                         {steady:.3f} s  (target < 1 s)")
    print(f"apply of one changed deployment:                            {one:.3f} s")
    print(f"rollback to the previous release:                           {back:.3f} s  (target < 5 s)")
    print(f"sync: commit -> one pass (fetch, plan, apply 3 envs):       {sync_pass:.3f} s")
    print(
        f"sync: webhook -> release recorded (loop, 0.5 s wake check): {woken:.3f} s  "
        "(target < 10 s to convergence; the agent's rollout comes on top)"
    )


if __name__ == "__main__":
    main()
