"""``shipyard promote``: every gate passing switches the service in one release and marks the
experiment promoted; each gate failing on its own refuses, says which and by how much, records a
failed release with every gate's value (audited) and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from shipyard.core.entities import RunCreate
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.settings import load_settings
from shipyard.deploy import experiments as ex
from shipyard.deploy.facts import StoreFacts
from shipyard.deploy.promote import PromotionRefused, promote
from shipyard.experiments.config import ExperimentSpec
from shipyard.metadata.delivery import ObjectState
from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store
from shipyard.metadata.monitoring import ResultRow, open_monitoring_records
from shipyard.metadata.security import Binding, open_security_store
from shipyard.monitoring.logs import log_labels
from shipyard.tracking.stores import Stores, open_stores
from tests.experiments.logs import write_log

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SIG = {"input_kind": "dataframe", "inputs": [{"name": "x", "type": "float64"}]}


@dataclass
class World:
    stores: Stores
    log_dir: str
    now: datetime

    def promote(self, challenger: str = "models:/fraud/2") -> object:
        facts = StoreFacts(self.stores.metadata, ex.stores_delivery(self.stores), "alice")
        return promote(
            self.stores, facts, "fraud", "api", challenger=challenger, env="production", user="alice",
            log_dir=self.log_dir, now=self.now,
        )  # fmt: skip

    def service_version(self) -> str | None:
        objects = ex.stores_delivery(self.stores).list_objects("fraud", "production")
        return next(o.model_version for o in objects if o.kind == "service")


def _version(stores: Stores, run_id: str, **kw: object) -> int:
    registry = open_registry_store(stores.metadata)
    data: dict[str, object] = {
        "signature": SIG,
        "description": "fraud scores",
        "tags": {"intended_use": "card payments", "ci.status": "success"},
        **kw,
    }
    return registry.create_version(
        ModelVersionCreate("fraud", uuid.uuid4().hex * 2, 1, "sklearn", "bob", T0, run_id=run_id, **data)  # type: ignore[arg-type]
    ).version


def _world(tmp_path: Path, brk: str | None = None) -> World:
    settings = load_settings(
        home=tmp_path / "home", uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts=str(tmp_path / "a")
    )
    stores = open_stores(settings)
    run_id = uuid.uuid4().hex
    stores.metadata.create_run(RunCreate(run_id, "train", "user:bob", "bob", T0))
    _version(stores, run_id)
    challenger: dict[str, object] = {}
    if brk == "card":
        challenger["tags"] = {"ci.status": "success"}  # no intended use
    if brk == "ci":
        challenger["tags"] = {"intended_use": "card payments", "ci.status": "failure"}
    if brk == "signature":
        challenger["signature"] = {"input_kind": "dataframe", "inputs": [{"name": "y", "type": "float64"}]}
    _version(stores, run_id, **challenger)
    security = open_security_store(stores.metadata)
    for user in ("carol", "dave"):
        security.create_user(user, T0)
    security.create_binding(Binding("b1", "user", "carol", "maintainer", "project:fraud", T0, "admin"))
    approver = {"approval": "bob", "role": "dave"}.get(brk or "", "carol")
    open_registry_store(stores.metadata).set_approval("fraud", 2, True, user=approver, at=T0)
    delivery = ex.stores_delivery(stores)
    ex.record(
        delivery, "fraud", "production", user="alice", what="apply",
        put=[ObjectState("service", "api", {"model": "models:/fraud/1"}, "models:/fraud/1")],
    )  # fmt: skip
    monitoring = open_monitoring_records(stores.metadata)
    monitoring.put_monitor("api-health", "api", {"name": "api-health", "deployment": "api", "checks": {}}, T0)
    monitoring.add_results([ResultRow("api-health", T0, "volume", "rows", 10.0, 1.0, False)])
    if brk == "monitors":
        monitoring.create_alert("api-health", "volume", T0, 0.0, "no traffic")
    spec = ExperimentSpec(deployment="api", challenger="models:/fraud/2", share=50, min_samples=200)
    ex.start(delivery, "fraud", "v2", spec, user="alice")
    rng = np.random.default_rng(3)
    n = 3000
    now = datetime.now(UTC)
    ts = int((now - timedelta(hours=3)).timestamp() * 1e6) + np.sort(rng.integers(0, 3 * 3600 * 10**6, n))
    arm = rng.integers(0, 2, n)
    label = rng.integers(0, 2, n)
    lift = 0.0 if brk == "experiment" else 0.2
    correct = rng.random(n) < np.where(arm == 1, 0.7 + lift, 0.7)
    log_dir = tmp_path / "log"
    ids = write_log(
        log_dir,
        "api",
        ts_us=ts,
        arm=arm,
        prediction=np.where(correct, label, 1 - label),
        latency_ms=np.ones(n),
    )
    log_labels(ids, label.tolist(), deployment="api", log_dir=str(log_dir))
    return World(stores, str(log_dir), now + timedelta(minutes=1))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = _world(tmp_path)
    yield w
    w.stores.close()


@pytest.mark.slow  # a real log, labels and stores end to end
def test_every_gate_passing_promotes_in_one_release(world: World) -> None:
    done = world.promote()
    assert done.version == "models:/fraud/2"  # type: ignore[attr-defined]
    assert [g.ok for g in done.gates] == [True] * 5  # type: ignore[attr-defined]
    assert world.service_version() == "models:/fraud/2"
    assert (
        ex.get_experiment(ex.stores_delivery(world.stores), "fraud", "production", "v2").status == "promoted"
    )
    release = ex.stores_delivery(world.stores).get_release("fraud", "production", done.release.number)  # type: ignore[attr-defined]
    assert release.outcome == "applied" and release.plan is not None
    assert {g["gate"] for g in release.plan["gates"]} == {"experiment", "approval", "monitors", "card", "ci"}
    changed = {s.kind: s for s in release.state or []}
    assert (
        changed["service"].model_version == "models:/fraud/2"
        and changed["experiment"].spec["status"] == "promoted"
    )
    with pytest.raises(InvalidInputError, match="promoted already"):
        world.promote()


@pytest.mark.parametrize(
    ("brk", "gate", "says"),
    [
        ("experiment", "experiment", "needs 'better' or 'not worse'"),
        ("approval", "approval", "own author 'bob'"),
        ("role", "approval", "holds none of maintainer"),
        ("monitors", "monitors", "open alert"),
        ("card", "card", "lacks: intended use"),
        ("ci", "ci", "status 'failure'"),
    ],
)
def test_each_gate_refuses_on_its_own(tmp_path: Path, brk: str, gate: str, says: str) -> None:
    world = _world(tmp_path, brk)
    try:
        with pytest.raises(PromotionRefused) as info:
            world.promote()
        failed = [g for g in info.value.gates if not g.ok]
        assert [g.name for g in failed] == [gate]
        assert says in str(info.value) and f"{gate}:" in str(info.value)
        assert world.service_version() == "models:/fraud/1"  # nothing half-promoted
        release = ex.stores_delivery(world.stores).get_release(
            "fraud", "production", info.value.release.number
        )
        assert release.outcome == "failed" and release.plan is not None and len(release.plan["gates"]) == 5
        audit = open_security_store(world.stores.metadata).list_audit(limit=5)
        assert any(e.action == "release.failed" for e in audit)
    finally:
        world.stores.close()


def test_bad_challengers_are_refused(tmp_path: Path) -> None:
    world = _world(tmp_path, "signature")
    try:
        with pytest.raises(InvalidInputError, match="different inputs"):
            world.promote()
        with pytest.raises(NotFoundError, match="no experiment puts 'feature-x'"):
            world.promote("feature-x")
        assert world.service_version() == "models:/fraud/1"
        refused = ex.stores_delivery(world.stores).list_releases("fraud", "production", limit=2)
        assert [r.outcome for r in refused] == ["failed", "failed"]  # both refusals are releases, audited
        assert "feature-x" in (refused[0].error or "") and "different inputs" in (refused[1].error or "")
    finally:
        world.stores.close()
