"""Branch deployments and branch clean-up (``shipyard apply -e staging --branch B``,
``shipyard branches delete B``); the names and rules are in :mod:`shipyard.core.branches`.

A branch deploys *next to* an environment: :func:`branch_spec` gives the spec in which the
environment ``E`` is also declared as the branch's slot ``E--B`` (same policies, settings and
overrides; the deployments and flows that go to ``E`` go to the slot too), and
:class:`BranchFacts` resolves each model reference to the branch's own model
(``NAME:branch:B``) when the branch has one, else to production's (reading production is
allowed), and a slot's secrets are its environment's (read, never written, from the branch).
:func:`shipyard.deploy.apply.apply` then plans, judges and records the slot as any
environment: its own releases, its own lock, its own desired state — which an agent started with
``--branch B`` runs on its own ports. Production is never a slot: :func:`refuse_production_apply`.

:func:`delete_branch` removes every slot of the branch (one release each, through the actuator),
tags the branch's runs and model versions ``shipyard.branch.deleted=true``, and marks the branch
deleted in the registry (its datasets read as a deleted branch's from there). Only objects whose
namespace or name carries the branch are touched, never production's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.branches import (
    branch_namespace,
    branch_object_name,
    branch_of_name,
    refuse_production_apply,
    slot_name,
    split_slot,
    validate_branch,
)
from shipyard.core.clock import utcnow
from shipyard.core.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from shipyard.deploy.apply import Actuator
    from shipyard.deploy.facts import Facts, MonitorStatus, ResolvedModel
    from shipyard.deploy.spec.models import Spec
    from shipyard.metadata.base import MetadataStore
    from shipyard.metadata.delivery import Applier, DeliveryStore

DELETED_TAG = "shipyard.branch.deleted"
_PAGE = 1000


def branch_spec(spec: Spec, env: str, branch: str) -> Spec:
    """``spec`` with ``env`` also declared as ``branch``'s slot (see the module doc)."""
    from shipyard.deploy.spec.models import Spec

    validate_branch(branch)
    refuse_production_apply(env, branch)
    if env not in spec.environments:
        raise InvalidInputError(
            f"unknown environment {env!r}; the spec declares: {', '.join(spec.environments)}"
        )
    slot = slot_name(env, branch)
    data: dict[str, Any] = spec.model_dump(mode="python", exclude_unset=False)
    data["environments"][slot] = data["environments"][env]
    if env in data.get("overrides", {}):
        data["overrides"][slot] = data["overrides"][env]
    for dep in data.get("deployments", {}).values():
        if dep.get("environments") is not None and env in dep["environments"]:
            dep["environments"] = [*dep["environments"], slot]
    for flow in data.get("flows", {}).values():
        if flow.get("environment") == env:
            flow["environment"] = slot
    return Spec.model_validate(data)


@dataclass
class BranchFacts:
    """:class:`~shipyard.deploy.facts.Facts` that resolve a model reference to the branch's own
    model first (``models:/fraud@candidate`` → ``models:/fraud:branch:B@candidate``), then to
    production's; everything else is the wrapped facts' answer."""

    inner: Facts
    branch: str

    def resolve(self, ref: str) -> ResolvedModel:
        from shipyard.deploy.facts import ResolvedModel

        body = ref.removeprefix("models:/")
        cut = min((i for i in (body.find("/"), body.find("@")) if i >= 0), default=-1)
        if cut > 0 and branch_of_name(body[:cut]) is None:
            own = f"models:/{branch_object_name(body[:cut], self.branch)}{body[cut:]}"
            try:
                found = self.inner.resolve(own)
            except NotFoundError:
                pass
            else:  # as the spec says it, so the plan reads the same
                return ResolvedModel(ref, found.name, found.version, found.approved, found.run_id)
        return self.inner.resolve(ref)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return self.inner.run_metrics(run_id)

    def monitor_status(self, deployment: str) -> MonitorStatus:
        return self.inner.monitor_status(deployment)

    def present_secrets(self, project: str, environment: str, names: Sequence[str]) -> set[str]:
        """A slot reads its environment's secrets (a branch may read; it never writes them)."""
        return self.inner.present_secrets(project, split_slot(environment)[0], names)

    def feature_view_exists(self, name: str) -> bool:
        return self.inner.feature_view_exists(name)

    def applier(self, project: str, environment: str) -> Applier:
        return self.inner.applier(project, environment)


def branch_slots(delivery: DeliveryStore, project: str, branch: str) -> list[str]:
    """The delivery slots of ``branch`` that have a release."""
    slots: list[str] = []
    offset = 0
    while True:
        page = delivery.list_environments(project, limit=_PAGE, offset=offset)
        slots.extend(e.environment for e in page if split_slot(e.environment)[1] == branch)
        if len(page) < _PAGE:
            return slots
        offset += _PAGE


@dataclass
class BranchDeletion:
    project: str
    branch: str
    slots: list[str] = field(default_factory=list)  # whose deployments were removed
    runs: int = 0  # tagged shipyard.branch.deleted
    model_versions: int = 0
    datasets: int = 0  # read as the deleted branch's (no tags on datasets)

    @property
    def message(self) -> str:
        where = ", ".join(self.slots) or "none"
        return (
            f"deleted branch {self.branch!r} of {self.project}: deployments removed from {where}; "
            f"marked {self.runs} run(s), {self.model_versions} model version(s), {self.datasets} dataset(s)"
        )


def delete_branch(
    project: str,
    branch: str,
    *,
    metadata: MetadataStore,
    delivery: DeliveryStore,
    user: str,
    actuator: Actuator | None = None,
) -> BranchDeletion:
    """Delete ``branch`` of ``project`` (see the module doc); NotFoundError when it was never
    recorded."""
    from shipyard.deploy.apply import clear
    from shipyard.metadata.branches import open_branch_store

    validate_branch(branch)
    branches = open_branch_store(metadata)
    branches.get_branch(project, branch)
    done = BranchDeletion(project, branch)
    for slot in branch_slots(delivery, project, branch):
        clear(project, slot, delivery=delivery, user=user, actuator=actuator)
        done.slots.append(slot)
    done.runs = _mark_runs(metadata, branch_namespace(project, branch))
    done.model_versions, done.datasets = _mark_objects(metadata, project, branch)
    branches.mark_deleted(project, branch, by=user)
    return done


def _mark_runs(metadata: MetadataStore, namespace: str) -> int:
    marked, offset = 0, 0
    while True:
        page = metadata.search_runs([namespace], max_results=_PAGE, offset=offset)
        for run in page.runs:
            if run.tags.get(DELETED_TAG) != "true":
                metadata.set_tags(run.id, {DELETED_TAG: "true"})
            marked += 1
        if page.next_offset is None:
            return marked
        offset = page.next_offset


def _mark_objects(metadata: MetadataStore, project: str, branch: str) -> tuple[int, int]:
    from shipyard.metadata.datasets import open_dataset_store
    from shipyard.metadata.model_registry import open_registry_store

    registry = open_registry_store(metadata)
    versions = 0
    for model in _all(lambda n, at: registry.list_models(limit=n, offset=at)):
        if model.project != project or branch_of_name(model.name) != branch:
            continue
        registry.set_model_tags(model.name, {DELETED_TAG: "true"}, utcnow())
        for version in _all(lambda n, at, name=model.name: registry.list_versions(name, limit=n, offset=at)):
            if version.tags.get(DELETED_TAG) != "true":
                registry.set_version_tags(model.name, version.version, {DELETED_TAG: "true"})
            versions += 1
    datasets = open_dataset_store(metadata)
    count = sum(
        1
        for d in _all(lambda n, at: datasets.list_datasets(limit=n, offset=at))
        if d.project == project and branch_of_name(d.name) == branch
    )
    return versions, count


def _all(fetch: Any) -> list[Any]:
    rows: list[Any] = []
    while True:
        page = fetch(_PAGE, len(rows))
        rows.extend(page)
        if len(page) < _PAGE:
            return rows
