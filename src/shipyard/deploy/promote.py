"""``shipyard promote NAME --from CHALLENGER --to ENV``: move an experiment's challenger into the
environment's service NAME when every gate passes, in one release.

Gates, each recorded with its value (:class:`Gate`):

- ``experiment`` — the experiment on NAME with this challenger decided ``better`` (or ``not worse``
  within its margin) on its deciding metric, with no sample ratio mismatch;
- ``approval`` — the challenger's model version is approved, by someone other than its author
  (four eyes), who holds one of ``roles`` at a scope reaching the environment;
- ``monitors`` — the deployment's monitors all have results and no open alert;
- ``card`` — the model card is complete: a description, an intended use, a signature and a source run;
- ``ci`` — the CI check of the version's commit is green: the version tag ``ci.status`` is
  ``success`` (what a CI job records with ``shipyard models tag NAME VERSION ci.status=success``).

A promotion that passes is one release: the service's model version becomes the challenger's and
the experiment is marked ``promoted`` in the same transaction (traffic switches in one step,
nothing is half-promoted). A refusal is a ``failed`` release carrying every gate's value — audited
like any release — and a :class:`PromotionRefused` naming each failed gate and by how much.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from shipyard.deploy import experiments as ex
from shipyard.experiments import stats
from shipyard.metadata.delivery import ObjectState, Release

if TYPE_CHECKING:
    from collections.abc import Callable

    from shipyard.deploy.facts import Facts
    from shipyard.experiments.config import ExperimentSpec
    from shipyard.metadata.model_registry import ModelVersion
    from shipyard.tracking.stores import Stores

APPROVER_ROLES = ("maintainer", "admin", "release-manager")
GATES = ("experiment", "approval", "monitors", "card", "ci")
CI_TAG = "ci.status"


@dataclass(frozen=True)
class Gate:
    name: str
    ok: bool
    value: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.name, "ok": self.ok, "value": self.value, "message": self.message}


class PromotionRefused(PermissionDeniedError):
    def __init__(self, gates: list[Gate], release: Release) -> None:
        self.gates = gates
        self.release = release
        failed = [g for g in gates if not g.ok]
        super().__init__(
            "promotion refused: "
            + "; ".join(f"{g.name}: {g.message}" for g in failed)
            + f" (release {release.number} records every gate)"
        )


@dataclass
class Promotion:
    release: Release
    gates: list[Gate]
    version: str


def _experiment_for(
    experiments: dict[str, ExperimentSpec], name: str, challenger: str
) -> tuple[str, ExperimentSpec]:
    for exp_name, spec in experiments.items():
        if spec.deployment == name and challenger in (spec.challenger, exp_name):
            return exp_name, spec
    shown = ", ".join(f"{n} ({s.deployment} vs {s.challenger})" for n, s in experiments.items()) or "none"
    raise NotFoundError(
        f"no experiment puts {challenger!r} against {name!r} here (experiments: {shown}); "
        "start one with `shipyard experiment start`"
    )


def experiment_gate(result: Any) -> Gate:
    metric = result.metrics[0]
    last = metric.windows[-1] if metric.windows else None
    value = {
        "decision": result.decision,
        "metric": metric.name,
        "diff": last.cum_diff if last else None,
        "interval": list(last.cs) if last else None,
        "n": list(last.cum_n) if last else [0, 0],
        "min_samples": result.spec.min_samples,
        "srm_p": result.srm_p,
    }
    ok = result.decision in (stats.BETTER, stats.NOT_WORSE)
    if ok:
        return Gate("experiment", True, value, f"decided {result.decision!r} on {metric.name}")
    short = max(0, result.spec.min_samples - min(value["n"]))
    how = (
        f"{short} more rows per arm needed before any decision"
        if short
        else (
            f"{metric.name} diff {_f(value['diff'])}, always-valid interval [{_f(value['interval'][0])}, "
            f"{_f(value['interval'][1])}]"
            if last
            else "no data"
        )
    )
    return Gate(
        "experiment", False, value, f"decided {result.decision!r}, needs 'better' or 'not worse' ({how})"
    )


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:+.4g}"


def approval_gate(
    version: ModelVersion, roles_of: Any, project: str, env: str, roles: tuple[str, ...]
) -> Gate:
    """``roles_of(user)``: the roles bound to ``user`` at scopes reaching ``project``/``env``."""
    value: dict[str, Any] = {
        "approved": version.approved,
        "approved_by": version.approved_by,
        "author": version.created_by,
    }
    if not version.approved or not version.approved_by:
        return Gate("approval", False, value, f"{version.uri} is not approved")
    if version.approved_by == version.created_by:
        return Gate(
            "approval",
            False,
            value,
            f"approved by its own author {version.created_by!r} (four eyes: another user must approve)",
        )
    fit = sorted({r for r in roles_of(version.approved_by) if r in roles})
    value["roles"] = fit
    if not fit:
        return Gate(
            "approval",
            False,
            value,
            f"approver {version.approved_by!r} holds none of {', '.join(roles)} for {project}/{env}",
        )
    return Gate("approval", True, value, f"approved by {version.approved_by} ({fit[0]}), not its author")


def monitors_gate(facts: Facts, deployment: str) -> Gate:
    status = facts.monitor_status(deployment)
    value = {"passing": status.passing, "reason": status.reason}
    if status.passing:
        return Gate("monitors", True, value, f"passing: {status.reason}")
    what = "failing" if status.passing is False else "unknown"
    return Gate("monitors", False, value, f"{what}: {status.reason}")


def card_gate(stores: Stores, version: ModelVersion) -> Gate:
    from shipyard.registry.card import build_card
    from shipyard.registry.service import ModelRegistry

    card = build_card(ModelRegistry(stores), version)
    missing = [
        what
        for what, present in (
            ("description", bool(card.description.strip())),
            ("intended use", bool(card.intended_use.strip())),
            ("signature", bool(version.signature)),
            ("source run", bool(version.run_id) and card.run_status != "deleted"),
        )
        if not present
    ]
    if missing:
        return Gate("card", False, {"missing": missing}, f"the model card lacks: {', '.join(missing)}")
    return Gate("card", True, {"missing": []}, "complete")


def ci_gate(version: ModelVersion) -> Gate:
    status = version.tags.get(CI_TAG)
    value = {"status": status, "commit": version.tags.get("git.commit")}
    if status == "success":
        return Gate("ci", True, value, "green")
    shown = "no check recorded" if status is None else f"status {status!r}"
    return Gate(
        "ci",
        False,
        value,
        f"{shown}; CI records it with "
        f"`shipyard models tag {version.model_name} {version.version} {CI_TAG}=success`",
    )


@dataclass
class Evaluation:
    """Every gate's verdict for one promotion, and what it would change."""

    service: str
    experiment: str
    current: str | None
    target: str
    gates: list[Gate]

    def to_dict(self) -> dict[str, Any]:
        return {
            "promotion": {
                "service": self.service,
                "experiment": self.experiment,
                "from": self.current,
                "to": self.target,
            },
            "ok": all(g.ok for g in self.gates),
            "gates": [g.to_dict() for g in self.gates],
        }


def gate_of(data: dict[str, Any]) -> Gate:
    """A :class:`Gate` from its :meth:`Gate.to_dict` (a server's answer)."""
    return Gate(str(data["gate"]), bool(data["ok"]), data.get("value"), str(data["message"]))


def gates(
    stores: Stores,
    facts: Facts,
    project: str,
    name: str,
    *,
    challenger: str,
    env: str,
    log_dir: str,
    roles: tuple[str, ...] = APPROVER_ROLES,
    now: datetime | None = None,
) -> Evaluation:
    """Judge the five gates of promoting ``challenger`` into ``name`` in ``project``/``env``,
    reading only the stores and the prediction log at ``log_dir`` (the team server passes its own;
    see ``POST /api/v1/deploy/{project}/{environment}/promotions/evaluate``). Writes nothing;
    NotFoundError or InvalidInputError when there is nothing to judge."""
    delivery = ex.stores_delivery(stores)
    service, exp_name, spec, version, target = _subject(stores, delivery, project, env, name, challenger)
    return _judge(stores, facts, delivery, (project, env, name), (exp_name, spec, version, target),
                  service, log_dir, roles, now)  # fmt: skip


def _judge(  # noqa: PLR0917
    stores: Stores,
    facts: Facts,
    delivery: Any,
    where: tuple[str, str, str],
    subject: tuple[str, ExperimentSpec, ModelVersion, str],
    service: Any,
    log_dir: str,
    roles: tuple[str, ...],
    now: datetime | None,
) -> Evaluation:
    project, env, name = where
    exp_name, spec, version, target = subject
    result = ex.analyse(stores, exp_name, spec, log_dir, now)
    judged = [
        experiment_gate(result),
        approval_gate(version, lambda who: delivery.roles_at(project, env, who), project, env, roles),
        monitors_gate(facts, name),
        card_gate(stores, version),
        ci_gate(version),
    ]
    return Evaluation(name, exp_name, service.model_version, target, judged)


def promote(
    stores: Stores,
    facts: Facts,
    project: str,
    name: str,
    *,
    challenger: str,
    env: str,
    user: str,
    log_dir: str | None = None,
    roles: tuple[str, ...] = APPROVER_ROLES,
    now: datetime | None = None,
    evaluate: Callable[[], list[Gate]] | None = None,
) -> Promotion:
    """Judge every gate, then switch or refuse in one release (see the module doc). ``evaluate``
    judges the gates elsewhere (the team server, which reads its own prediction log); without it
    they are judged here with :func:`gates` over ``log_dir``."""
    delivery = ex.stores_delivery(stores)
    what = f"promote {name} from {challenger}"
    try:
        service, exp_name, spec, version, target = _subject(stores, delivery, project, env, name, challenger)
        if evaluate is not None:
            judged = evaluate()
        else:
            if log_dir is None:
                raise InvalidInputError("promote needs the prediction log's folder (log_dir)")
            judged = _judge(stores, facts, delivery, (project, env, name), (exp_name, spec, version, target),
                            service, log_dir, roles, now).gates  # fmt: skip
    except (NotFoundError, InvalidInputError) as exc:  # a refusal before any gate: audited too
        asked = {"promotion": {"service": name, "from": challenger}}
        ex.record(delivery, project, env, user=user, what=what, plan=asked, outcome="failed", error=str(exc))
        raise
    plan = {
        "promotion": {"service": name, "experiment": exp_name, "from": service.model_version, "to": target},
        "gates": [g.to_dict() for g in judged],
    }
    if not all(g.ok for g in judged) or tuple(g.name for g in judged) != GATES:
        failed = "; ".join(f"{g.name}: {g.message}" for g in judged if not g.ok) or "gates missing"
        release = ex.record(
            delivery, project, env, user=user, what=what, plan=plan, outcome="failed", error=failed
        )
        raise PromotionRefused(judged, release)
    promoted_spec = {**service.spec, "model": target}
    put = [
        ObjectState("service", name, promoted_spec, target),
        ObjectState(
            ex.KIND,
            exp_name,
            spec.model_copy(update={"status": "promoted", "reason": f"promoted {target}"}).model_dump(
                mode="json"
            ),
        ),
    ]
    release = ex.record(delivery, project, env, user=user, what=what, put=put, plan=plan)
    return Promotion(release, judged, target)


def _subject(  # noqa: PLR0917
    stores: Stores, delivery: Any, project: str, env: str, name: str, challenger: str
) -> tuple[Any, str, ExperimentSpec, ModelVersion, str]:
    """The service, the experiment, the challenger's version and its URI (NotFoundError or
    InvalidInputError naming what is wrong)."""
    from shipyard.registry.service import ModelRegistry

    objects = {(o.kind, o.name): o for o in delivery.list_objects(project, env)}
    service = objects.get(("service", name))
    if service is None:
        known = ", ".join(n for k, n in objects if k == "service") or "none"
        raise NotFoundError(f"no service {name!r} in {project}/{env} (services there: {known})")
    exp_name, spec = _experiment_for(ex.list_experiments(delivery, project, env), name, challenger)
    if spec.status == "promoted":
        raise InvalidInputError(f"experiment {exp_name!r} was promoted already")
    target = (
        spec.challenger
        if spec.challenger_version is not None
        else _deployed_version(objects, spec.challenger)
    )
    model, number = target[len("models:/") :].rsplit("/", 1)
    registry = ModelRegistry(stores)
    version = registry.store.get_version(model, int(number))
    _same_signature(registry, service, version)
    return service, exp_name, spec, version, target


def _deployed_version(objects: dict[tuple[str, str], Any], deployment: str) -> str:
    found = objects.get(("service", deployment))
    if found is None or not found.model_version:
        raise NotFoundError(
            f"the challenger deployment {deployment!r} does not exist here; nothing to promote"
        )
    return str(found.model_version)


def _same_signature(registry: Any, service: Any, version: ModelVersion) -> None:
    """A challenger must take the inputs production takes."""
    current = service.model_version
    if not current or not str(current).startswith("models:/"):
        return
    model, number = str(current)[len("models:/") :].rsplit("/", 1)
    try:
        production = registry.store.get_version(model, int(number))
    except (NotFoundError, ValueError):
        return
    mine, theirs = version.signature.get("inputs"), production.signature.get("inputs")
    if mine and theirs and mine != theirs:
        raise InvalidInputError(
            f"{version.uri} takes different inputs than production's {production.uri}: a promotion "
            "must keep the signature (deploy it as a new service instead)"
        )
