"""``shipyard plan``: the environment's desired state (the spec as it sees it, after overrides)
against its applied state (:class:`~shipyard.metadata.delivery.DeliveryStore`), as ordered changes
with their field diffs, and the policy verdicts that need the stores (:mod:`.verdicts`).

Objects are the environment itself (its settings, secret references and policies), its
deployments (``service``/``batch``), flows and monitors, keyed by (kind, name). A deployment also
carries the model version its reference resolves to now, so a moved alias is an update even when
the spec did not change (a route's model is checked, not tracked). Order: creates and updates by
kind — the environment first, so what a deployment reads (its settings, secret references) is in
place before it; then deployments, flows, monitors — and deletes after them in the reverse order
(a monitor goes before the deployment it watches). Secrets and feature views are not applied by a
plan: a deployment ``requires`` them and the verdicts say whether they exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import NotFoundError, PermissionDeniedError
from shipyard.deploy.spec.models import Service, Spec, secret_refs
from shipyard.deploy.spec.rules import for_environment
from shipyard.metadata.delivery import ObjectState, canonical_hash, kind_order

if TYPE_CHECKING:
    from shipyard.deploy.facts import Facts, ResolvedModel
    from shipyard.metadata.delivery import AppliedObject, DeliveryStore

_MISSING = "(none)"


@dataclass(frozen=True)
class FieldChange:
    path: str  # dotted, e.g. resources.cpu
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete
    kind: str
    name: str
    fields: tuple[FieldChange, ...] = ()
    before: ObjectState | None = None
    after: ObjectState | None = None
    requires: tuple[str, ...] = ()  # secret:NAME, feature_view:NAME

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.name


@dataclass(frozen=True)
class Verdict:
    rule: str  # model.resolves | model.approved | model.min_quality | model.monitors_passing |
    # apply.allowed | secret.exists | feature_view.exists
    subject: str  # deployment api | environment production
    ok: bool | None  # None: unknown (refused where the policy requires it)
    message: str
    where: str | None = None  # file:line:column in shipyard.yaml of what it judges, when it has one

    @property
    def text(self) -> str:
        """The message, after its place in the spec when it has one."""
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class Plan:
    project: str
    environment: str
    spec_hash: str
    changes: list[Change]
    verdicts: list[Verdict]
    unchanged: int
    commit: str | None = None
    desired: list[ObjectState] = field(default_factory=list)

    @property
    def refusals(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.ok is not True]

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "delete": 0}
        for change in self.changes:
            out[change.action] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "environment": self.environment,
            "spec_hash": self.spec_hash,
            "commit": self.commit,
            "summary": {**self.counts(), "unchanged": self.unchanged},
            "changes": [
                {
                    "action": c.action,
                    "kind": c.kind,
                    "name": c.name,
                    "fields": [{"path": f.path, "old": f.old, "new": f.new} for f in c.fields],
                    "requires": list(c.requires),
                }
                for c in self.changes
            ],
            "verdicts": [
                {"rule": v.rule, "subject": v.subject, "ok": v.ok, "message": v.message, "where": v.where}
                for v in self.verdicts
            ],
            "refused": bool(self.refusals),
        }


class PlanRefused(PermissionDeniedError):
    """A plan's policy verdicts refuse it; ``plan`` has them all."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        refusals = plan.refusals
        more = f" (and {len(refusals) - 1} more; `shipyard plan -e {plan.environment}` lists them)"
        super().__init__(
            f"{plan.environment}: refused: {refusals[0].text}" + (more if len(refusals) > 1 else "")
        )


# ---- desired state -------------------------------------------------------------------------------
def desired_objects(view: Spec, env: str) -> list[ObjectState]:
    """The objects environment ``env`` should hold (``view`` = ``for_environment(spec, env)``), without
    their resolved model versions."""
    environment = view.environments[env]
    objects = [ObjectState("environment", env, environment.model_dump(mode="json", exclude={"description"}))]
    for name, dep in view.deployments.items():
        objects.append(ObjectState(dep.kind, name, dep.model_dump(mode="json", exclude={"environments"})))
    for name, fl in view.flows.items():
        objects.append(ObjectState("flow", name, fl.model_dump(mode="json", exclude={"environment"})))
    for name, monitor in view.monitors.items():
        objects.append(ObjectState("monitor", name, dict(monitor)))
    for name, experiment in view.experiments.items():
        objects.append(ObjectState("experiment", name, experiment.model_dump(mode="json")))
    return objects


def _kept_outcome(before: ObjectState, after: ObjectState) -> ObjectState:
    """An experiment that stopped (a guardrail) or was promoted stays so when the spec only says
    it runs: re-applying the same spec never restarts it (a changed experiment does)."""
    if before.kind != "experiment" or before.spec.get("status", "running") == "running":
        return after
    same = {k: v for k, v in after.spec.items() if k not in ("status", "reason")} == {
        k: v for k, v in before.spec.items() if k not in ("status", "reason")
    }
    return before if same else after


def requirements(view: Spec, obj: ObjectState) -> tuple[str, ...]:
    """What an object reads that a plan does not apply: secrets and feature views."""
    if obj.kind == "environment":
        names = {n for value in view.environments[obj.name].settings.values() for n in secret_refs(value)}
        return tuple(f"secret:{n}" for n in sorted(names))
    dep = view.deployments.get(obj.name) if obj.kind in ("service", "batch") else None
    if dep is None:
        return ()
    needs = [f"secret:{n}" for n in sorted(set(dep.secrets))]
    if isinstance(dep, Service):
        needs += [f"feature_view:{n}" for n in sorted(set(dep.features))]
    return tuple(needs)


# ---- the diff ------------------------------------------------------------------------------------
def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key in value:
            out.update(_flat(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def field_changes(before: ObjectState | None, after: ObjectState | None) -> tuple[FieldChange, ...]:
    old = _flat(before.spec) if before is not None else {}
    new = _flat(after.spec) if after is not None else {}
    if before is not None:
        old["model_version"] = before.model_version
    if after is not None:
        new["model_version"] = after.model_version
    paths = sorted(set(old) | set(new))
    return tuple(
        FieldChange(p, old.get(p, _MISSING), new.get(p, _MISSING))
        for p in paths
        if old.get(p, _MISSING) != new.get(p, _MISSING) and p
    )


def diff(
    desired: Sequence[ObjectState],
    actual: Sequence[ObjectState],
    needs: Mapping[tuple[str, str], tuple[str, ...]],
) -> tuple[list[Change], int]:
    """Ordered changes from ``actual`` to ``desired`` and how many objects stay as they are."""
    have = {o.key: o for o in actual}
    want = {o.key: o for o in desired}
    changes: list[Change] = []
    unchanged = 0
    for key in sorted(want, key=lambda k: (kind_order(k[0]), k[1])):
        after, before = want[key], have.get(key)
        if before is not None:
            after = _kept_outcome(before, after)
        if before is None:
            changes.append(
                Change("create", *key, field_changes(None, after), None, after, needs.get(key, ()))
            )
        elif before.spec != after.spec or before.model_version != after.model_version:
            fields = field_changes(before, after)
            changes.append(Change("update", *key, fields, before, after, needs.get(key, ())))
        else:
            unchanged += 1
    for key in sorted((k for k in have if k not in want), key=lambda k: (-kind_order(k[0]), k[1])):
        changes.append(Change("delete", *key, field_changes(have[key], None), have[key], None))
    return changes, unchanged


# ---- the plan ------------------------------------------------------------------------------------
def make_plan(
    spec: Spec,
    env: str,
    *,
    delivery: DeliveryStore,
    facts: Facts,
    commit: str | None = None,
    actual: Sequence[AppliedObject] | None = None,
) -> Plan:
    """Plan environment ``env`` of ``spec`` (a validated spec) against the store's applied state."""
    from shipyard.core.errors import InvalidInputError
    from shipyard.deploy.verdicts import judge

    if env not in spec.environments:
        known = ", ".join(spec.environments)
        raise InvalidInputError(f"unknown environment {env!r}; the spec declares: {known}")
    project = spec.project.name
    view = for_environment(spec, env)
    resolved: dict[str, ResolvedModel] = {}
    unresolved: dict[str, str] = {}
    desired: list[ObjectState] = []
    for plain in desired_objects(view, env):
        obj = plain
        if plain.kind in ("service", "batch"):
            try:
                resolved[plain.name] = found = facts.resolve(str(plain.spec["model"]))
                obj = ObjectState(plain.kind, plain.name, plain.spec, found.uri)
            except NotFoundError as exc:
                unresolved[plain.name] = str(exc)
        desired.append(obj)
    needs = {o.key: requirements(view, o) for o in desired}
    if actual is None:
        actual = delivery.list_objects(project, env)
    changes, unchanged = diff(desired, [a.state() for a in actual], needs)
    spec_hash = canonical_hash([o.spec for o in desired])
    plan = Plan(project, env, spec_hash, changes, [], unchanged, commit, desired)
    plan.verdicts = judge(view, env, plan, facts, resolved=resolved, unresolved=unresolved)
    return plan
