"""Experiments in an environment's delivery state: each is an applied object of kind
``experiment`` (its :class:`ExperimentSpec`, status included), so starting, stopping, a guardrail
stop and a promotion are releases — numbered, with who and why, and audited (``release.<outcome>``
in the hash chain) — and a runtime reads the challenger's share from the same state
(:mod:`shipyard.serving.experiment`).

``check`` is one guardrail pass: analyse, and on a breach record the stop (the challenger's share
goes to 0 in the state the serving watcher reads), and open an alert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.experiments.config import ExperimentSpec
from shipyard.metadata.delivery import DeliveryStore, ObjectState, Release, ReleaseDraft, canonical_hash

if TYPE_CHECKING:
    from shipyard.experiments.runner import ExperimentResult
    from shipyard.tracking.stores import Stores

KIND = "experiment"


def list_experiments(delivery: DeliveryStore, project: str, env: str) -> dict[str, ExperimentSpec]:
    return {
        o.name: ExperimentSpec.model_validate(o.spec)
        for o in delivery.list_objects(project, env)
        if o.kind == KIND
    }


def get_experiment(delivery: DeliveryStore, project: str, env: str, name: str) -> ExperimentSpec:
    found = list_experiments(delivery, project, env)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise NotFoundError(f"no experiment {name!r} in {project}/{env} (experiments there: {known})")
    return found[name]


def record(
    delivery: DeliveryStore,
    project: str,
    env: str,
    *,
    user: str,
    what: str,
    put: Sequence[ObjectState] = (),
    plan: dict[str, Any] | None = None,
    outcome: str = "applied",
    error: str | None = None,
) -> Release:
    """One release changing experiment objects (and, for a promotion, the service) in one
    transaction; ``outcome="failed"`` records a refusal without changing anything."""
    from shipyard.deploy.apply import lock_owner, take_lock

    owner = lock_owner()
    take_lock(delivery, project, env, owner=owner, user=user, wait_s=10.0)
    try:
        body = {"action": what, **(plan or {})}
        draft = ReleaseDraft(spec_hash=canonical_hash(body), plan=body, kind="apply")
        release = delivery.begin_release(
            project, env, draft, owner=owner, by=user, put=put if outcome == "applied" else ()
        )
        return delivery.finish_release(
            project, env, release.number, owner=owner, outcome=outcome, error=error
        )
    finally:
        delivery.release_lock(project, env, owner=owner)


def start(delivery: DeliveryStore, project: str, name: str, spec: ExperimentSpec, *, user: str) -> Release:
    """Record experiment ``name`` as running (ConflictError while one of that name runs)."""
    running = list_experiments(delivery, project, spec.environment).get(name)
    if running is not None and running.status == "running":
        raise ConflictError(
            f"experiment {name!r} is already running in {project}/{spec.environment}; stop it first"
        )
    spec = spec.model_copy(update={"status": "running", "reason": None})
    return record(
        delivery,
        project,
        spec.environment,
        user=user,
        what=f"experiment start {name}",
        put=[ObjectState(KIND, name, spec.model_dump(mode="json"))],
    )


def stop(delivery: DeliveryStore, project: str, env: str, name: str, *, user: str, reason: str) -> Release:
    """The challenger's share goes to 0 (status ``stopped``, with ``reason``)."""
    spec = get_experiment(delivery, project, env, name)
    stopped = spec.model_copy(update={"status": "stopped", "reason": reason})
    return record(
        delivery,
        project,
        env,
        user=user,
        what=f"experiment stop {name}",
        put=[ObjectState(KIND, name, stopped.model_dump(mode="json"))],
        plan={"reason": reason},
    )


def analyse(
    stores: Stores, name: str, spec: ExperimentSpec, log_dir: str, now: datetime | None = None
) -> ExperimentResult:
    """The experiment's analysis from its first logged row to ``now``: incremental, over the
    per-segment statistics cached next to the log (:mod:`shipyard.experiments.incremental`)."""
    from shipyard.experiments.incremental import analyse_log

    return analyse_log(name, spec, log_dir, now or datetime.now(UTC), experiment=name)


@dataclass
class CheckOutcome:
    result: ExperimentResult
    stopped: Release | None = None
    alert: int | None = None


def check(
    stores: Stores,
    project: str,
    env: str,
    name: str,
    *,
    user: str,
    log_dir: str | None = None,
    now: datetime | None = None,
    analysis: Callable[[], ExperimentResult] | None = None,
) -> CheckOutcome:
    """One guardrail pass (see the module doc); a stopped experiment is only analysed.
    ``analysis`` analyses elsewhere (the team server, over its own prediction log:
    ``GET /api/v1/deploy/{project}/{environment}/experiments/{name}/analysis``); without it the
    experiment is analysed here over ``log_dir``."""
    if analysis is not None:
        result = analysis()
    elif log_dir is None:
        raise InvalidInputError("an experiment check needs the prediction log's folder (log_dir)")
    else:
        result = analyse(
            stores, name, get_experiment(stores_delivery(stores), project, env, name), log_dir, now
        )
    spec = result.spec
    outcome = CheckOutcome(result)
    if not result.breaches or spec.status != "running":
        return outcome
    reason = "guardrail: " + "; ".join(b.message() for b in result.breaches)
    outcome.stopped = stop(stores_delivery(stores), project, env, name, user=user, reason=reason)
    result.spec = get_experiment(stores_delivery(stores), project, env, name)
    outcome.alert = _alert(stores, name, reason, result.breaches[0].value, now or datetime.now(UTC))
    return outcome


def stores_delivery(stores: Stores) -> DeliveryStore:
    from shipyard.metadata.delivery import open_delivery_store

    return open_delivery_store(stores.metadata)


def _alert(stores: Stores, name: str, message: str, value: float, at: datetime) -> int:
    """Open (or refresh) the experiment's guardrail alert: monitor ``experiment:NAME``, key
    ``guardrail`` — listed by ``shipyard monitor alerts`` beside the monitors' own."""
    from shipyard.monitoring.store import MonitoringStore

    store = MonitoringStore(stores)
    monitor = f"experiment:{name}"
    current = store.open_alert(monitor, "guardrail")
    if current is not None:
        store.touch_alert(current.id, at, value)
        return current.id
    return store.create_alert(monitor, "guardrail", at, value, message).id
