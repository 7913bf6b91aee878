"""A promotion's world: production's ``api`` on ``models:/fraud/1``, the experiment ``v2`` against
``models:/fraud/2`` with a prediction log and labels, and every gate satisfied unless ``brk`` names
one to break (``experiment``, ``approval``, ``role``, ``monitors``, ``card``, ``ci``, ``signature``).
Shared by the library tests (tests/deploy/test_promote.py) and the server's
(tests/server/test_promotion_gates.py), which build it in the server's stores and log folder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from shipyard.core.entities import RunCreate
from shipyard.deploy import experiments as ex
from shipyard.experiments.config import ExperimentSpec
from shipyard.metadata.delivery import ObjectState
from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store
from shipyard.metadata.monitoring import ResultRow, open_monitoring_records
from shipyard.metadata.security import Binding, open_security_store
from shipyard.monitoring.logs import log_labels
from shipyard.tracking.stores import Stores
from tests.experiments.logs import write_log

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SIG = {"input_kind": "dataframe", "inputs": [{"name": "x", "type": "float64"}]}


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


def build(stores: Stores, log_dir: Path, brk: str | None = None) -> datetime:
    """Fill ``stores`` and the prediction log under ``log_dir``; the time to judge at."""
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
    ids = write_log(
        log_dir,
        "api",
        ts_us=ts,
        arm=arm,
        prediction=np.where(correct, label, 1 - label),
        latency_ms=np.ones(n),
    )
    log_labels(ids, label.tolist(), deployment="api", log_dir=str(log_dir))
    return now + timedelta(minutes=1)
