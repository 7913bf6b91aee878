"""plan / apply / rollback on a local database: ordered changes with field diffs, idempotence,
policy verdicts that refuse, releases with their audit events, actuator failures, rollback."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from shipyard.core.errors import NotFoundError
from shipyard.deploy.apply import apply, rollback
from shipyard.deploy.plan import Change, PlanRefused, make_plan
from shipyard.deploy.report import plan_text
from shipyard.metadata.security import open_security_store
from tests.deploy.delivery_world import SPEC, World, spec_of


def _ready(world: World) -> None:
    """fraud v1 approved with f1 0.95 as @candidate; the db secret in both environments."""
    world.alias("candidate", world.register(approved=True))
    world.secret("db", "staging")
    world.secret("db", "production")


def test_a_first_plan_creates_everything_in_order_with_what_it_requires(world: World) -> None:
    _ready(world)
    plan = make_plan(spec_of(), "staging", delivery=world.delivery, facts=world.facts())
    assert [(c.action, c.kind, c.name) for c in plan.changes] == [
        ("create", "environment", "staging"),
        ("create", "service", "api"),
        ("create", "batch", "nightly"),
        ("create", "flow", "train"),
        ("create", "monitor", "api-health"),
    ]
    api = plan.changes[1]
    assert api.requires == ("secret:db",)
    assert api.after is not None and api.after.model_version == "models:/fraud/1"
    assert {f.path: f.new for f in api.fields}["replicas"] == 1
    assert not plan.refusals
    text = plan_text(plan)
    assert "+ service api" in text and "requires: secret:db" in text
    assert "Plan: 5 to create, 0 to update, 0 to delete, 0 unchanged." in text
    production = make_plan(spec_of(), "production", delivery=world.delivery, facts=world.facts())
    # nightly and train are staging's; monitors go everywhere
    assert [c.name for c in production.changes] == ["production", "api", "api-health"]
    assert {f.path: f.new for f in production.changes[1].fields}["replicas"] == 2  # the override


def test_apply_is_idempotent_and_a_change_is_an_ordered_update_with_its_diff(world: World) -> None:
    _ready(world)
    first = apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    assert first.release is not None and first.release.number == 1 and first.release.outcome == "applied"
    again = apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    assert again.release is None and "no changes" in again.message
    assert [r.number for r in world.delivery.list_releases("fraud", "staging")] == [1]

    changed = SPEC.replace("replicas: 1", "replicas: 3").replace(
        "    monitors:\n      api-health: {deployment: api, checks: {volume: {min: 1}}}\n", ""
    )
    changed = changed.replace("monitors:\n  api-health: {deployment: api, checks: {volume: {min: 1}}}\n", "")
    plan = make_plan(spec_of(changed), "staging", delivery=world.delivery, facts=world.facts())
    assert [(c.action, c.kind, c.name) for c in plan.changes] == [
        ("update", "service", "api"),
        ("delete", "monitor", "api-health"),
    ]
    assert [(f.path, f.old, f.new) for f in plan.changes[0].fields] == [("replicas", 1, 3)]
    assert plan.unchanged == 3
    # an alias that moves is an update even though the spec did not change
    world.alias("candidate", world.register(approved=True))
    moved = make_plan(spec_of(), "staging", delivery=world.delivery, facts=world.facts())
    assert [(f.path, f.old, f.new) for f in moved.changes[0].fields] == [
        ("model_version", "models:/fraud/1", "models:/fraud/2")
    ]


def test_deletes_run_after_creates_in_reverse_kind_order(world: World) -> None:
    _ready(world)
    apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    bare = (
        "project: {name: fraud}\nenvironments:\n  staging:\n"
        "    policies: {secrets: [db], data: {datasets: [transactions]}}\n"
    )
    plan = make_plan(spec_of(bare), "staging", delivery=world.delivery, facts=world.facts())
    assert [(c.action, c.kind) for c in plan.changes] == [
        ("delete", "monitor"),
        ("delete", "flow"),
        ("delete", "batch"),
        ("delete", "service"),
    ]


def test_production_refuses_an_unapproved_model_and_never_half_applies(world: World) -> None:
    _ready(world)
    world.alias("candidate", world.register(approved=False))  # v2, not approved
    with pytest.raises(PlanRefused, match=r"production: model fraud@candidate v2 is not approved") as info:
        apply(spec_of(), "production", delivery=world.delivery, facts=world.facts(), user="alice")
    assert "shipyard models approve fraud 2" in str(info.value)
    assert world.delivery.list_releases("fraud", "production") == []
    assert world.delivery.list_objects("fraud", "production") == []
    assert world.delivery.get_lock("fraud", "production") is None  # released on the way out
    # staging requires nothing of its models
    assert apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts(), user="alice").release


@pytest.mark.parametrize(
    ("setup", "user", "message", "where"),
    [
        (
            "low-quality",
            "alice",
            "production: model fraud@candidate v2 has f1 0.5, below the minimum 0.9",
            "shipyard.yaml:16:5",  # the model reference judged
        ),
        ("no-metric", "alice", "production: model fraud@candidate v2 has no f1 metric", "shipyard.yaml:16:5"),
        (
            "no-alias",
            "alice",
            "production: deployment api: model reference models:/fraud@candidate does not",
            "shipyard.yaml:16:5",
        ),
        (
            "no-secret",
            "alice",
            "production: secret db does not exist in fraud/production",
            "shipyard.yaml:13:7",  # the setting that reads ${secret:db}
        ),
        (
            "ok",
            "mallory",
            "production: mallory may not apply here; environments.production.policies.apply",
            "shipyard.yaml:9:7",
        ),
    ],
)
def test_policies_refuse(world: World, setup: str, user: str, message: str, where: str) -> None:
    if setup != "no-alias":
        f1 = {"low-quality": 0.5, "no-metric": None}.get(setup, 0.95)
        world.alias("candidate", world.register(approved=True, f1=0.95))
        world.alias("candidate", world.register(approved=True, f1=f1))
    if setup != "no-secret":
        world.secret("db", "production")
    plan = make_plan(spec_of(), "production", delivery=world.delivery, facts=world.facts(user))
    [refusal] = [v for v in plan.refusals if message in v.message] or [plan.refusals]
    assert refusal.where == where and refusal.text == f"{where}: {refusal.message}"
    assert f"FAIL {where}: {message}" in plan_text(plan)
    assert {"where": where, "message": refusal.message}.items() <= next(
        v for v in plan.to_json()["verdicts"] if v["message"] == refusal.message
    ).items()
    with pytest.raises(PlanRefused, match=where):
        apply(spec_of(), "production", delivery=world.delivery, facts=world.facts(user), user=user)
    assert world.delivery.list_releases("fraud", "production") == []


def test_a_reference_set_by_an_override_is_placed_in_the_override(world: World) -> None:
    _ready(world)
    text = SPEC.replace("api: {replicas: 2}", "api: {replicas: 2, model: models:/fraud@missing}")
    text = text.replace("\n    secrets: [db]\n", "\n    secrets: [db]\n    features: [customer]\n")
    text = text.replace("{datasets: [transactions]}", "{datasets: [transactions], feature_views: [customer]}")
    text = text.replace(
        "      secrets: [db]\n    settings:",
        "      secrets: [db]\n      data: {feature_views: [customer]}\n    settings:",
    )
    spec = spec_of(text)
    plan = make_plan(spec, "production", delivery=world.delivery, facts=world.facts())
    line = text.splitlines().index("      api: {replicas: 2, model: models:/fraud@missing}") + 1
    [missing] = [v for v in plan.refusals if v.rule == "model.resolves"]
    assert missing.where == f"shipyard.yaml:{line}:26" and "fraud@missing" in missing.message
    [view] = [v for v in plan.refusals if v.rule == "feature_view.exists"]
    features = text.splitlines().index("    features: [customer]") + 1
    assert view.where == f"shipyard.yaml:{features}:16"
    staging = make_plan(spec, "staging", delivery=world.delivery, facts=world.facts())
    assert [v.where for v in staging.refusals if v.rule == "feature_view.exists"] == [view.where]
    assert not [v for v in staging.refusals if v.rule == "model.resolves"]  # staging has no override


def test_monitors_passing_is_unknown_without_results_and_refuses(world: World) -> None:
    _ready(world)
    text = SPEC.replace("require: {approved: true,", "require: {approved: true, monitors_passing: true,")
    plan = make_plan(spec_of(text), "production", delivery=world.delivery, facts=world.facts())
    [verdict] = [v for v in plan.verdicts if v.rule == "model.monitors_passing"]
    assert verdict.ok is None and "no monitor watches deployment 'api'" in verdict.message
    assert verdict in plan.refusals


def test_a_release_is_recorded_with_its_commit_and_an_audit_event(world: World) -> None:
    _ready(world)
    result = apply(
        spec_of(),
        "production",
        delivery=world.delivery,
        facts=world.facts(),
        user="alice",
        commit="0123456789abcdef0123456789abcdef01234567",
        author="Bob <bob@example.com>",
    )
    assert result.release is not None
    release = world.delivery.get_release("fraud", "production", result.release.number)
    assert release.applied_by == "alice" and release.author == "Bob <bob@example.com>"
    assert release.commit == "0123456789abcdef0123456789abcdef01234567"
    assert release.plan is not None and release.plan["summary"]["create"] == 3
    assert release.spec_hash == result.plan.spec_hash
    events = open_security_store(world.metadata).list_audit(action="release.applied")
    assert [(e.user, e.target, e.scope) for e in events] == [
        ("alice", "fraud/production/releases/1", "project:fraud/env:production")
    ]
    assert '"commit":"0123456789abcdef0123456789abcdef01234567"' in (events[0].detail or "")
    assert "secret" not in (events[0].detail or "")  # no setting reaches the audit log


class _Failing:
    def __init__(self, failing: str) -> None:
        self.failing = failing
        self.seen: list[tuple[str, str]] = []

    def apply(
        self, project: str, environment: str, changes: Sequence[Change]
    ) -> Mapping[tuple[str, str], str | None]:
        self.seen = [c.key for c in changes]
        return {("service", self.failing): "never became ready within 30 s"}


def test_an_actuator_failure_marks_the_release_failed_and_rolls_that_deployment_back(world: World) -> None:
    _ready(world)
    apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    changed = SPEC.replace("replicas: 1", "replicas: 3").replace("output: scores/", "output: scores2/")
    actuator = _Failing("api")
    result = apply(
        spec_of(changed), "staging", delivery=world.delivery, facts=world.facts(), user="a", actuator=actuator
    )
    assert actuator.seen == [("service", "api"), ("batch", "nightly")]
    assert result.release is not None and result.release.outcome == "failed"
    assert result.release.error == "service api: never became ready within 30 s"
    state = {o.name: o.spec for o in world.delivery.list_objects("fraud", "staging")}
    assert state["api"]["replicas"] == 1  # rolled back
    assert state["nightly"]["output"] == "scores2/"  # kept
    assert open_security_store(world.metadata).list_audit(action="release.failed")


def test_rollback_restores_the_previous_release_fast_even_after_an_approval_is_revoked(world: World) -> None:
    _ready(world)
    apply(spec_of(), "production", delivery=world.delivery, facts=world.facts(), user="alice")
    v2 = world.register(approved=True)
    world.alias("candidate", v2)
    second = apply(spec_of(), "production", delivery=world.delivery, facts=world.facts(), user="alice")
    assert second.release is not None and second.release.number == 2
    world.registry.set_approval("fraud", 1, False, user="carol", at=time_now())  # revoked since
    started = time.perf_counter()
    back = rollback("fraud", "production", delivery=world.delivery, facts=world.facts(), user="alice")
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0
    assert back.release is not None and back.release.kind == "rollback" and back.release.restores == 1
    [api] = [o for o in world.delivery.list_objects("fraud", "production") if o.name == "api"]
    assert api.model_version == "models:/fraud/1"
    outcomes = [(r.number, r.outcome) for r in world.delivery.list_releases("fraud", "production")]
    assert outcomes == [(3, "applied"), (2, "rolled-back"), (1, "applied")]
    # rolling back is refused to someone production's apply policy does not name
    with pytest.raises(PlanRefused, match="mallory may not apply here"):
        rollback(
            "fraud", "production", to=2, delivery=world.delivery, facts=world.facts("mallory"), user="mallory"
        )
    # to a given release, and nothing before the first
    assert rollback(
        "fraud", "production", to=2, delivery=world.delivery, facts=world.facts(), user="alice"
    ).release
    with pytest.raises(NotFoundError, match="release 9 of fraud/production"):
        rollback("fraud", "production", to=9, delivery=world.delivery, facts=world.facts(), user="alice")
    with pytest.raises(NotFoundError, match="no release to roll back"):
        rollback("fraud", "staging", delivery=world.delivery, facts=world.facts(), user="alice")


def time_now() -> datetime:
    return datetime.now(UTC)


def test_the_agent_runs_what_apply_recorded(world: World) -> None:
    """`shipyard agent --applied`: the desired state is the environment's applied objects, each
    deployment pinned to the version its release resolved (a later alias move changes nothing
    until the next apply)."""
    from shipyard.core.errors import InvalidInputError
    from shipyard.deploy.agent import AppliedState
    from shipyard.deploy.spec.models import BatchJob, Service

    _ready(world)
    state = AppliedState(world.delivery, "fraud")
    with pytest.raises(InvalidInputError, match="has nothing applied; run `shipyard apply -e staging` first"):
        state.desired("staging")
    scheduled = spec_of(SPEC.replace("environment: staging}", 'environment: staging, schedule: "0 * * * *"}'))
    apply(scheduled, "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    world.alias("candidate", world.register(approved=True))  # the alias moves to v2 after the apply
    desired = state.desired("staging")
    assert desired.project == "fraud" and desired.source == "release 1 of fraud/staging"
    api, nightly = desired.deployments["api"], desired.deployments["nightly"]
    assert isinstance(api.spec, Service) and isinstance(nightly.spec, BatchJob)
    assert api.versions == {api.spec.model: 1} and api.spec.replicas == 1
    assert list(desired.flows) == ["train"] and desired.flows["train"].schedule == "0 * * * *"
    assert desired.settings == dict(spec_of().environments["staging"].settings)
    apply(scheduled, "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    assert state.desired("staging").deployments["api"].versions == {api.spec.model: 2}
