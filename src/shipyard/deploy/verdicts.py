"""A plan's policy verdicts: what the environment's policies say about the objects a plan creates
or updates (what stays as it is was judged when it was applied), decided on the stores' facts.

- ``model.resolves`` — every model reference of a changed deployment (its model and its routes'
  models) names a version that exists;
- ``model.approved`` — with ``require.approved``, each of those versions is approved;
- ``model.min_quality`` — with ``require.min_quality`` ({metric: minimum}), the version's source
  run logged each metric at or above its minimum (a version with no source run, or a run without
  the metric, fails: quality that cannot be shown is not there);
- ``model.monitors_passing`` — with ``require.monitors_passing``, the deployment's monitors (those
  naming it as their deployment) all have results and no open alert. Monitors watch a deployment,
  not a version, so this judges the deployment the new version enters; when nothing can be judged
  (no monitor, or one without results) the verdict is *unknown* and, since the environment
  requires it, refuses: an environment that asks for passing monitors is not entered on faith;
- ``apply.allowed`` — the applier holds ``deploy:apply`` at ``project:P/env:E`` and, when
  ``policies.apply`` names users, roles or service accounts, is one of them (a user by name, a
  service account by name, anyone by a role bound at a scope that reaches the environment);
- ``secret.exists`` / ``feature_view.exists`` — what a changed object reads exists (the spec's
  own check already refused reading what the environment's policies do not allow).

Every verdict's message is one line that starts with the environment, e.g.
``production: model fraud@candidate v7 is not approved (deployment api)``; its ``where`` is the
``file:line:column`` in shipyard.yaml of what it judges (the model reference, the secret or feature
view named, the environment's ``policies.apply``; an override's place when the environment's
overrides set it), so a reference that does not resolve is reported where it is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from shipyard.core.errors import NotFoundError
from shipyard.deploy.plan import Plan, Verdict
from shipyard.deploy.spec.load import place
from shipyard.deploy.spec.models import Service, Spec

if TYPE_CHECKING:
    from shipyard.deploy.facts import Facts, ResolvedModel
    from shipyard.deploy.spec.models import ApplyPolicy, ModelRequirements


def judge(
    view: Spec,
    env: str,
    plan: Plan,
    facts: Facts,
    *,
    resolved: Mapping[str, ResolvedModel],
    unresolved: Mapping[str, str],
) -> list[Verdict]:
    if not plan.changes:
        return []
    policies = view.environments[env].policies
    verdicts = [applier_verdict(facts, view.project.name, env, policies.apply)]
    if verdicts[0].ok is not True and (
        policies.apply.users or policies.apply.roles or policies.apply.service_accounts
    ):
        verdicts[0] = _at(verdicts[0], place(view, ("environments", env, "policies", "apply")))
    changed = {c.name for c in plan.changes if c.action != "delete" and c.kind in ("service", "batch")}
    for name in sorted(changed):
        subject = f"deployment {name}"
        dep = view.deployments[name]
        models: list[tuple[ResolvedModel, str | None]] = []
        at = place(view, ("deployments", name, "model"), env)
        if name in unresolved:
            verdicts.append(
                Verdict("model.resolves", subject, False, f"{env}: {subject}: {unresolved[name]}", at)
            )
        else:
            models.append((resolved[name], at))
        for i, route in enumerate(dep.routes if isinstance(dep, Service) else []):
            at = place(view, ("deployments", name, "routes", i, "model"), env)
            try:
                models.append((facts.resolve(route.model), at))
            except NotFoundError as exc:
                verdicts.append(
                    Verdict("model.resolves", subject, False, f"{env}: {subject} route: {exc}", at)
                )
        for model, at in models:
            verdicts.append(Verdict("model.resolves", subject, True, f"{model.ref} is {model.uri}", at))
            verdicts += [_at(v, at) for v in _model(env, subject, model, policies.models.require, facts)]
        if policies.models.require.monitors_passing:
            status = facts.monitor_status(name)
            what = {True: "monitors pass", False: "monitors fail", None: "monitors unknown"}[status.passing]
            verdicts.append(
                Verdict(
                    "model.monitors_passing",
                    subject,
                    status.passing,
                    f"{env}: {subject}: {what}: {status.reason}",
                    place(view, ("deployments", name), env),
                )
            )
    verdicts += _reads(view, env, plan, facts)
    return verdicts


def _model(
    env: str, subject: str, model: ResolvedModel, require: ModelRequirements, facts: Facts
) -> list[Verdict]:
    out: list[Verdict] = []
    if require.approved:
        if model.approved:
            out.append(Verdict("model.approved", subject, True, f"model {model.shown()} is approved"))
        else:
            out.append(
                Verdict(
                    "model.approved",
                    subject,
                    False,
                    f"{env}: model {model.shown()} is not approved ({subject}); a maintainer approves it "
                    f"with `shipyard models approve {model.name} {model.version}`",
                )
            )
    if require.min_quality:
        metrics = facts.run_metrics(model.run_id) if model.run_id else {}
        for metric, minimum in sorted(require.min_quality.items()):
            value = metrics.get(metric)
            if value is None:
                source = f"its source run {model.run_id}" if model.run_id else "it has no source run and"
                why = f"{env}: model {model.shown()} has no {metric} metric ({source} logged none; {subject})"
                out.append(Verdict("model.min_quality", subject, False, why))
            elif value < minimum:
                why = (
                    f"{env}: model {model.shown()} has {metric} {value:g}, below the minimum "
                    f"{minimum:g} ({subject})"
                )
                out.append(Verdict("model.min_quality", subject, False, why))
            else:
                out.append(
                    Verdict(
                        "model.min_quality", subject, True, f"model {model.shown()} has {metric} {value:g}"
                    )
                )
    return out


def applier_verdict(facts: Facts, project: str, env: str, policy: ApplyPolicy) -> Verdict:
    """``apply.allowed`` for whoever applies (see the module doc)."""
    subject = f"environment {env}"
    who = facts.applier(project, env)
    if not who.can_apply:
        return Verdict(
            "apply.allowed",
            subject,
            False,
            f"{env}: {who.name} lacks the deploy:apply permission in project:{project}/env:{env}",
        )
    if not (policy.users or policy.roles or policy.service_accounts):
        return Verdict("apply.allowed", subject, True, f"{who.name} may apply")
    by_name = policy.service_accounts if who.kind == "service" else policy.users
    if who.name in by_name or set(who.roles) & set(policy.roles):
        return Verdict("apply.allowed", subject, True, f"{who.name} may apply")
    allowed = "; ".join(
        f"{what} {', '.join(names)}"
        for what, names in (
            ("users", policy.users),
            ("roles", policy.roles),
            ("service accounts", policy.service_accounts),
        )
        if names
    )
    return Verdict(
        "apply.allowed",
        subject,
        False,
        f"{env}: {who.name} may not apply here; environments.{env}.policies.apply allows {allowed}",
    )


def _reads(view: Spec, env: str, plan: Plan, facts: Facts) -> list[Verdict]:
    project = view.project.name
    secrets: dict[str, list[str]] = {}
    views: dict[str, list[str]] = {}
    for change in plan.changes:
        if change.action == "delete":
            continue
        for need in change.requires:
            kind, _, name = need.partition(":")
            (secrets if kind == "secret" else views).setdefault(name, []).append(
                f"{change.kind} {change.name}"
            )
    out: list[Verdict] = []
    present = facts.present_secrets(project, env, sorted(secrets)) if secrets else set()
    for name, users in sorted(secrets.items()):
        subject = users[0]
        if name in present:
            out.append(Verdict("secret.exists", subject, True, f"secret {name} exists"))
        else:
            out.append(
                Verdict(
                    "secret.exists",
                    subject,
                    False,
                    f"{env}: secret {name} does not exist in {project}/{env} (read by {', '.join(users)}); "
                    f"set it with `shipyard secrets set {project} {env} {name}`",
                    _read_place(view, env, subject, "secret", name),
                )
            )
    for name, users in sorted(views.items()):
        subject = users[0]
        if facts.feature_view_exists(name):
            out.append(Verdict("feature_view.exists", subject, True, f"feature view {name} is applied"))
        else:
            out.append(
                Verdict(
                    "feature_view.exists",
                    subject,
                    False,
                    f"{env}: feature view {name} is not applied (read by {', '.join(users)}); "
                    "apply it with `shipyard features apply`",
                    _read_place(view, env, subject, "feature_view", name),
                )
            )
    return out


def _at(verdict: Verdict, where: str | None) -> Verdict:
    from dataclasses import replace

    return replace(verdict, where=where) if where and not verdict.where else verdict


def _read_place(view: Spec, env: str, subject: str, kind: str, name: str) -> str | None:
    """Where ``subject`` (``service api``, ``environment production``) names secret or feature
    view ``name`` in the spec: a deployment's ``secrets``/``features`` item, or the setting whose
    value reads ``${secret:name}``."""
    from shipyard.deploy.spec.models import secret_refs

    what, _, who = subject.partition(" ")
    if what == "environment":
        settings = view.environments[who].settings if who in view.environments else {}
        key = next((k for k, value in settings.items() if name in secret_refs(value)), None)
        return place(view, ("environments", who, "settings", key) if key else ("environments", who))
    dep = view.deployments.get(who)
    if dep is None:
        return None
    names: list[str] = (
        list(dep.secrets) if kind == "secret" else list(dep.features) if isinstance(dep, Service) else []
    )
    field = "secrets" if kind == "secret" else "features"
    loc: tuple[str | int, ...] = ("deployments", who, field)
    return place(view, (*loc, names.index(name)) if name in names else loc, env)
