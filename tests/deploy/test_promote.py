"""``shipyard promote``: every gate passing switches the service in one release and marks the
experiment promoted; each gate failing on its own refuses, says which and by how much, records a
failed release with every gate's value (audited) and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.settings import load_settings
from shipyard.deploy import experiments as ex
from shipyard.deploy.facts import StoreFacts
from shipyard.deploy.promote import PromotionRefused, promote
from shipyard.metadata.security import open_security_store
from shipyard.tracking.stores import Stores, open_stores
from tests.deploy.promotion_world import build


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


def _world(tmp_path: Path, brk: str | None = None) -> World:
    settings = load_settings(
        home=tmp_path / "home", uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts=str(tmp_path / "a")
    )
    stores = open_stores(settings)
    now = build(stores, tmp_path / "log", brk)
    return World(stores, str(tmp_path / "log"), now)


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
