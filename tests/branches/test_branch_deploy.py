"""Branch deployments: ``apply -e staging --branch B`` records a parallel deployment in the slot
``staging--B`` next to staging's own (the branch's model when it has one, production's otherwise),
the agent's desired state and directories for it are its own, production never takes a branch,
and ``branches delete`` removes the slot's deployments and marks the branch's objects — never
production's."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from shipyard.core.branches import slot_name
from shipyard.core.entities import RunCreate
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.deploy.agent import AppliedState
from shipyard.deploy.agent.commands import child_environment, pinned
from shipyard.deploy.apply import apply
from shipyard.deploy.branches import DELETED_TAG, BranchFacts, branch_spec, delete_branch
from shipyard.metadata.branches import open_branch_store
from shipyard.metadata.datasets import DatasetVersionCreate, open_dataset_store
from shipyard.metadata.model_registry import ModelVersionCreate
from tests.deploy.delivery_world import T0, World, spec_of

BRANCH = "feature-x"
SLOT = "staging--feature-x"


def _branch_model(world: World) -> int:
    """Version 1 of the branch's model fraud:branch:feature-x (project fraud), from a branch run."""
    run_id = uuid.uuid4().hex
    world.metadata.create_run(RunCreate(run_id, "b", f"project:fraud/branch:{BRANCH}", "bob", T0))
    made = world.registry.create_version(
        ModelVersionCreate(
            f"fraud:branch:{BRANCH}", "b" * 64, 1, "sklearn", "bob", T0, run_id=run_id, project="fraud"
        )
    )
    world.registry.set_alias(made.model_name, "candidate", made.version, user="bob", at=T0)
    open_branch_store(world.metadata).record("fraud", BRANCH, by="bob")
    return made.version


def _production(world: World) -> None:
    world.alias("candidate", world.register(approved=True))
    world.secret("db", "staging")


def _apply_branch(world: World) -> None:
    spec = branch_spec(spec_of(), "staging", BRANCH)
    done = apply(spec, SLOT, delivery=world.delivery, facts=BranchFacts(world.facts(), BRANCH), user="bob")
    assert done.release is not None and done.release.outcome == "applied", done.plan.to_json()


def _state(world: World, env: str) -> list[tuple[str, str, str | None]]:
    return [(o.kind, o.name, o.model_version) for o in world.delivery.list_objects("fraud", env)]


def test_a_branch_deploys_next_to_the_environment_with_its_own_state(world: World, tmp_path: Path) -> None:
    _production(world)
    apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    staging = _state(world, "staging")
    _branch_model(world)
    _apply_branch(world)
    assert _state(world, "staging") == staging  # staging's own: untouched
    assert [r.number for r in world.delivery.list_releases("fraud", "staging")] == [1]
    branch = dict(((k, n), v) for k, n, v in _state(world, SLOT))
    assert branch[("service", "api")] == f"models:/fraud:branch:{BRANCH}/1"  # the branch's candidate
    assert branch[("batch", "nightly")] == f"models:/fraud:branch:{BRANCH}/1"
    # what the branch lacks resolves to production's (reading production is allowed)
    facts = BranchFacts(world.facts(), BRANCH)
    assert facts.resolve(f"models:/fraud/{world.register()}").name == "fraud"
    assert facts.resolve("models:/fraud@candidate").name == f"fraud:branch:{BRANCH}"
    assert ("environment", SLOT) in branch and ("flow", "train") in branch
    # what an agent runs: two desired states, each under its own directory, ports and lock
    applied = AppliedState(world.delivery, "fraud")
    own, parallel = applied.desired("staging"), applied.desired(SLOT)
    served = {
        where.environment: pinned(where.deployments["api"].spec.model, where.deployments["api"].versions)
        for where in (own, parallel)
    }
    assert served == {"staging": "models:/fraud/1", SLOT: f"models:/fraud:branch:{BRANCH}/1"}
    env = child_environment(
        {"SHIPYARD_BRANCH": "stale"}, project="fraud", environment=SLOT, settings={}, secret_values={}
    )
    assert env["SHIPYARD_BRANCH"] == BRANCH and env["SHIPYARD_ENVIRONMENT"] == SLOT
    plain = child_environment(
        {"SHIPYARD_BRANCH": "stale"}, project="fraud", environment="staging", settings={}, secret_values={}
    )
    assert "SHIPYARD_BRANCH" not in plain


def test_production_never_takes_a_branch(world: World) -> None:
    with pytest.raises(
        InvalidInputError, match=r"cannot be applied to production: production is written only by"
    ):
        branch_spec(spec_of(), "production", BRANCH)
    with pytest.raises(InvalidInputError, match="unknown environment 'qa'"):
        branch_spec(spec_of(), "qa", BRANCH)
    with pytest.raises(InvalidInputError, match="production itself"):
        branch_spec(spec_of(), "staging", "main")
    assert slot_name("staging", BRANCH) == SLOT


def test_deleting_a_branch_removes_its_deployments_and_marks_only_its_objects(world: World) -> None:
    _production(world)
    apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    prod_run = uuid.uuid4().hex
    world.metadata.create_run(RunCreate(prod_run, "p", "project:fraud", "alice", T0))
    _branch_model(world)
    datasets = open_dataset_store(world.metadata)
    for name in ("txns", f"txns:branch:{BRANCH}"):
        datasets.create_version(
            DatasetVersionCreate(name, "table", "parquet", (), "bob", T0, project="fraud")
        )
    _apply_branch(world)
    staging_before = _state(world, "staging")
    prod_version = world.registry.get_version("fraud", 1)

    done = delete_branch("fraud", BRANCH, metadata=world.metadata, delivery=world.delivery, user="carol")
    assert done.slots == [SLOT] and (done.runs, done.model_versions, done.datasets) == (1, 1, 1)
    assert "deleted branch 'feature-x' of fraud" in done.message
    assert _state(world, SLOT) == [] and _state(world, "staging") == staging_before
    assert AppliedState(world.delivery, "fraud").desired(SLOT).deployments == {}  # the agent stops it
    last = world.delivery.list_releases("fraud", SLOT)[0]
    assert last.outcome == "applied" and last.applied_by == "carol"
    # the branch's objects are marked; production's are as they were
    branch_runs = world.metadata.search_runs([f"project:fraud/branch:{BRANCH}"]).runs
    assert [r.tags.get(DELETED_TAG) for r in branch_runs] == ["true"]
    assert DELETED_TAG not in world.metadata.get_run(prod_run).tags
    assert world.registry.get_version(f"fraud:branch:{BRANCH}", 1).tags[DELETED_TAG] == "true"
    assert world.registry.get_version("fraud", 1) == prod_version
    gone = open_branch_store(world.metadata).get_branch("fraud", BRANCH)
    assert gone.deleted and gone.deleted_by == "carol"
    assert open_branch_store(world.metadata).list_branches("fraud") == []
    with pytest.raises(NotFoundError, match="no branch 'never'"):
        delete_branch("fraud", "never", metadata=world.metadata, delivery=world.delivery, user="carol")
