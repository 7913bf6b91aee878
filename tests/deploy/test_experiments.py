"""Experiments in the delivery state: declared in shipyard.yaml (validated, applied as objects),
started and stopped as releases, a stopped one kept stopped by a re-apply, and a guardrail pass
that stops the challenger, alerts and audits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from shipyard.core.errors import ConflictError, NotFoundError
from shipyard.core.settings import load_settings
from shipyard.deploy import experiments as ex
from shipyard.deploy.apply import apply
from shipyard.deploy.plan import make_plan
from shipyard.deploy.spec.load import SpecInvalid
from shipyard.experiments.config import ExperimentSpec
from shipyard.metadata.security import open_security_store
from shipyard.monitoring.store import MonitoringStore
from shipyard.tracking.stores import open_stores
from tests.deploy.delivery_world import SPEC, World, spec_of
from tests.experiments.logs import write_log

EXPERIMENT = """\
experiments:
  fraud-v2:
    deployment: api
    environment: staging
    challenger: models:/fraud/2
    share: 20
    unit: customer_id
    metrics: [{name: accuracy}, {name: latency_ms}]
    min_samples: 500
    guardrails: {error_rate: 0.02}
"""


def _ready(world: World) -> None:
    world.alias("candidate", world.register(approved=True))
    world.register(approved=True)
    world.secret("db", "staging")


def test_a_declared_experiment_is_applied_and_a_stopped_one_stays_stopped(world: World) -> None:
    _ready(world)
    spec = spec_of(SPEC.replace("overrides:", EXPERIMENT + "overrides:"))
    assert spec.experiments["fraud-v2"].sticky_key == "customer_id"
    plan = make_plan(spec, "staging", delivery=world.delivery, facts=world.facts())
    assert ("create", "experiment", "fraud-v2") in [(c.action, c.kind, c.name) for c in plan.changes]
    assert not [
        c
        for c in make_plan(spec, "production", delivery=world.delivery, facts=world.facts()).changes
        if c.kind == "experiment"
    ]
    apply(spec, "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    assert ex.get_experiment(world.delivery, "fraud", "staging", "fraud-v2").status == "running"

    release = ex.stop(world.delivery, "fraud", "staging", "fraud-v2", user="alice", reason="enough")
    assert release.outcome == "applied"
    stopped = ex.get_experiment(world.delivery, "fraud", "staging", "fraud-v2")
    assert (stopped.status, stopped.reason, stopped.effective_share) == ("stopped", "enough", 0.0)
    again = apply(spec, "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    assert again.release is None  # the same spec does not restart it
    assert ex.get_experiment(world.delivery, "fraud", "staging", "fraud-v2").status == "stopped"
    with pytest.raises(NotFoundError, match="fraud-v2"):
        ex.get_experiment(world.delivery, "fraud", "staging", "nope")


def test_spec_rules_refuse_a_bad_experiment() -> None:
    bad = EXPERIMENT.replace("deployment: api", "deployment: nightly")
    with pytest.raises(SpecInvalid, match="not a service deployed to 'staging'"):
        spec_of(SPEC.replace("overrides:", bad + "overrides:"))
    with pytest.raises(SpecInvalid, match="unknown environment 'qa'"):
        spec_of(
            SPEC.replace(
                "overrides:", EXPERIMENT.replace("environment: staging", "environment: qa") + "overrides:"
            )
        )
    with pytest.raises(SpecInvalid, match="challenger"):
        spec_of(SPEC.replace("overrides:", EXPERIMENT.replace("models:/fraud/2", "fraud@x") + "overrides:"))
    with pytest.raises(SpecInvalid, match="outcome:NAME"):
        spec_of(SPEC.replace("overrides:", EXPERIMENT.replace("name: accuracy", "name: f2") + "overrides:"))


def test_start_refuses_a_running_duplicate(world: World) -> None:
    spec = ExperimentSpec(deployment="api", environment="staging", challenger="models:/fraud/2")
    ex.start(world.delivery, "fraud", "fraud-v2", spec, user="alice")
    with pytest.raises(ConflictError, match="already running"):
        ex.start(world.delivery, "fraud", "fraud-v2", spec, user="alice")
    ex.stop(world.delivery, "fraud", "staging", "fraud-v2", user="alice", reason="x")
    ex.start(world.delivery, "fraud", "fraud-v2", spec, user="alice")  # a stopped one may start again
    assert ex.get_experiment(world.delivery, "fraud", "staging", "fraud-v2").status == "running"


def test_a_guardrail_breach_stops_alerts_and_audits(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path / "home", uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts=str(tmp_path / "a")
    )
    stores = open_stores(settings)
    try:
        delivery = ex.stores_delivery(stores)
        spec = ExperimentSpec(
            deployment="api",
            environment="production",
            challenger="models:/fraud/2",
            share=50,
            metrics=[{"name": "error_rate"}],  # type: ignore[list-item]
            min_samples=100,
            guardrails={"error_rate": 0.05, "min_requests": 100},  # type: ignore[arg-type]
        )
        ex.start(delivery, "fraud", "ab", spec, user="alice")
        rng = np.random.default_rng(0)
        n = 4000
        now = datetime.now(UTC)
        ts = (np.datetime64(now.replace(tzinfo=None), "us") - np.timedelta64(2, "h")).astype(
            np.int64
        ) + np.sort(rng.integers(0, 7_000_000_000, n))
        arm = rng.integers(0, 2, n)
        failed = rng.random(n) < np.where(arm == 1, 0.2, 0.01)  # the challenger fails 20% of requests
        role = np.where(failed, "error", "primary").astype(object)
        log_dir = tmp_path / "log"
        write_log(
            log_dir,
            "api",
            ts_us=ts,
            arm=arm,
            prediction=np.zeros(n),
            latency_ms=rng.gamma(2, 5, n),
            role=role,
        )
        out = ex.check(
            stores,
            "fraud",
            "production",
            "ab",
            user="guard",
            log_dir=str(log_dir),
            now=now + timedelta(minutes=1),
        )
        assert out.stopped is not None and out.alert is not None
        assert [b.guardrail for b in out.result.breaches] == ["error_rate"]
        stopped = ex.get_experiment(delivery, "fraud", "production", "ab")
        assert stopped.status == "stopped" and stopped.effective_share == 0
        assert stopped.reason is not None and "error_rate" in stopped.reason
        alerts = MonitoringStore(stores).alerts("experiment:ab")
        assert alerts and "error_rate" in alerts[0].message
        events = open_security_store(stores.metadata).list_audit(limit=20)
        assert any("release" in e.action and e.user == "guard" for e in events)
        # a second pass finds it stopped: nothing more is recorded
        again = ex.check(stores, "fraud", "production", "ab", user="guard", log_dir=str(log_dir), now=now)
        assert again.stopped is None
    finally:
        stores.close()
