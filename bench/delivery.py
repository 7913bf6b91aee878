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
recorded) and, with the loop running (interval 30 s, wake check 2 s as ``shipyard sync``
defaults), the time from a webhook's wake-up to the release recorded. Targets (issue 15): plan
< 1 s, rollback < 5 s, a new commit converged < 10 s (what is measured here ends at the desired
state; a runtime agent's rollout of it comes on top).
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
        SyncOptions(str(repo), wake_check_s=2.0, interval_s=30.0),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
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
        f"sync: webhook -> release recorded (loop, 2 s wake check):   {woken:.3f} s  "
        "(target < 10 s to convergence; the agent's rollout comes on top)"
    )


if __name__ == "__main__":
    main()
