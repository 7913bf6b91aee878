"""``shipyard apply`` and ``shipyard rollback``: a plan made under the environment's lock, refused
on any failing verdict, recorded as a **release**, acted on by an :class:`Actuator`.

Order of an apply: the spec was loaded and validated by the caller (a spec error never reaches
here); take the lock (waiting up to ``lock_wait_s`` for another applier, then failing with its
name); plan against the state read under the lock; refuse on any verdict that is not ok; with no
changes stop ("no changes": no release); else open the release (the desired state changes in the
same transaction), let the actuator act on the changes, and finish the release — ``applied``, or
``failed`` with the actuator's reasons, the objects it could not apply restored to what they were
(that deployment rolls back; the others keep their new state). The lock is released at the end
whatever happened; a killed applier's lock expires after its TTL and its release is marked
``failed`` (interrupted) by the next one.

A **rollback** restores the desired state a release left (by default the newest applied release
before the current one) as a new release of kind ``rollback``, and marks the release it replaces
``rolled-back``. It does not re-judge the model policies: what it restores passed them when it was
applied, and a rollback is what one reaches for when the present state is bad — refusing it because
an approval was revoked since would keep the bad state running. It does check who applies: the
lock and ``deploy:apply`` (the server), and the ``policies.apply`` recorded with the release being
replaced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.deploy.plan import Change, Plan, PlanRefused, Verdict, diff, make_plan
from shipyard.metadata.delivery import DEFAULT_LOCK_TTL_S, ObjectState, Release, ReleaseDraft

if TYPE_CHECKING:
    from shipyard.deploy.facts import Facts
    from shipyard.deploy.spec.models import Spec
    from shipyard.metadata.delivery import DeliveryStore

Key = tuple[str, str]
log = logging.getLogger("shipyard.deploy.apply")


class Actuator(Protocol):
    """What makes a runtime match a release. ``apply`` gets the ordered changes of a release (its
    desired state is already recorded) and answers per object it could not apply why (objects
    missing from the answer, or mapped to None, were applied)."""

    def apply(
        self, project: str, environment: str, changes: Sequence[Change]
    ) -> Mapping[Key, str | None]: ...


class RecordOnly:
    """The default actuator: the release's desired state is the whole effect (a runtime agent
    reconciles from :meth:`~shipyard.metadata.delivery.DeliveryStore.desired`)."""

    def apply(self, project: str, environment: str, changes: Sequence[Change]) -> Mapping[Key, str | None]:
        return {}


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan  # what was applied (without the held deletes)
    release: Release | None  # None: nothing to do
    held: tuple[Change, ...] = ()  # deletes not applied (prune=False)

    @property
    def message(self) -> str:
        where = f"{self.plan.project}/{self.plan.environment}"
        if self.release is None and self.held:
            return f"{where}: no changes applied; {self._held_text()}"
        if self.release is None:
            return f"{where}: no changes; the environment matches the spec"
        return self._done(where) + (f"; {self._held_text()}" if self.held else "")

    def _held_text(self) -> str:
        names = ", ".join(f"{c.kind} {c.name}" for c in self.held[:5])
        more = f" and {len(self.held) - 5} more" if len(self.held) > 5 else ""
        return f"{len(self.held)} object(s) the spec no longer declares kept ({names}{more}): prune to delete"

    def _done(self, where: str) -> str:
        assert self.release is not None
        counts = self.plan.counts()
        done = f"{counts['create']} created, {counts['update']} updated, {counts['delete']} deleted"
        if self.release.outcome == "failed":
            return f"{where}: release {self.release.number} failed: {self.release.error}"
        return f"{where}: release {self.release.number} {self.release.outcome} ({done})"


def lock_owner() -> str:
    """This apply's own lock token: host, process and a nonce."""
    host = "".join(c if c.isalnum() or c in "-." else "-" for c in socket.gethostname())[:60] or "host"
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def take_lock(
    delivery: DeliveryStore,
    project: str,
    environment: str,
    *,
    owner: str,
    user: str,
    wait_s: float = 0.0,
    ttl_s: float = DEFAULT_LOCK_TTL_S,
) -> None:
    """The environment's lock, waiting up to ``wait_s`` for its holder (then its ConflictError)."""
    deadline = time.monotonic() + wait_s
    pause = 0.05
    while True:
        try:
            delivery.acquire_lock(project, environment, owner=owner, by=user, ttl_s=ttl_s)
            return
        except ConflictError:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def _restore(changes: Sequence[Change], failed: Mapping[Key, str]) -> tuple[list[ObjectState], list[Key]]:
    """What puts the failed objects back as they were before the release."""
    put: list[ObjectState] = []
    remove: list[Key] = []
    for change in changes:
        if change.key in failed:
            if change.before is not None:
                put.append(change.before)
            else:
                remove.append(change.key)
    return put, remove


@contextlib.contextmanager
def _keep_lock(
    delivery: DeliveryStore, project: str, env: str, *, owner: str, user: str, ttl_s: float
) -> Iterator[None]:
    """Extend the lock every third of its TTL while an actuator works (a rollout may outlast it)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(ttl_s / 3):
            try:
                delivery.acquire_lock(project, env, owner=owner, by=user, ttl_s=ttl_s)
            except Exception:  # finish_release refuses later if the lock really was lost
                log.warning("could not extend the apply lock of %s/%s", project, env, exc_info=True)

    thread = threading.Thread(target=beat, name="shipyard-apply-lock", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _run(
    delivery: DeliveryStore,
    plan: Plan,
    draft: ReleaseDraft,
    *,
    owner: str,
    user: str,
    actuator: Actuator,
    ttl_s: float = DEFAULT_LOCK_TTL_S,
) -> Release:
    """Open the release, actuate (keeping the lock), finish it."""
    project, env = plan.project, plan.environment
    put = [c.after for c in plan.changes if c.after is not None]
    remove = [c.key for c in plan.changes if c.action == "delete"]
    release = delivery.begin_release(project, env, draft, owner=owner, by=user, put=put, remove=remove)
    try:
        with _keep_lock(delivery, project, env, owner=owner, user=user, ttl_s=ttl_s):
            answers = actuator.apply(project, env, plan.changes)
        failed = {key: why for key, why in answers.items() if why}
    except Exception as exc:  # the actuator broke: nothing it did can be trusted to have happened
        reason = f"the actuator failed: {' '.join(str(exc).split()) or type(exc).__name__}"
        failed = {c.key: reason for c in plan.changes}
    if not failed:
        return delivery.finish_release(project, env, release.number, owner=owner, outcome="applied")
    back, gone = _restore(plan.changes, failed)
    error = "; ".join(f"{kind} {name}: {why}" for (kind, name), why in sorted(failed.items()))[:4000]
    return delivery.finish_release(
        project, env, release.number, owner=owner, outcome="failed", error=error, put=back, remove=gone
    )


def _plan_json(plan: Plan, spec: Spec | None) -> dict[str, object]:
    out = plan.to_json()
    if spec is not None:  # a rollback judges its applier against the policy of the release it replaces
        out["apply_policy"] = spec.environments[plan.environment].policies.apply.model_dump(mode="json")
    return out


def apply(
    spec: Spec,
    env: str,
    *,
    delivery: DeliveryStore,
    facts: Facts,
    user: str,
    actuator: Actuator | None = None,
    commit: str | None = None,
    author: str | None = None,
    lock_wait_s: float = 0.0,
    lock_ttl_s: float = DEFAULT_LOCK_TTL_S,
    prune: bool = True,
) -> ApplyResult:
    """Apply environment ``env`` of the validated ``spec``; PlanRefused when a verdict refuses.
    With ``prune=False`` the objects the spec no longer declares are kept (the result's ``held``)."""
    project = spec.project.name
    if env not in spec.environments:
        raise InvalidInputError(
            f"unknown environment {env!r}; the spec declares: {', '.join(spec.environments)}"
        )
    owner = lock_owner()
    take_lock(delivery, project, env, owner=owner, user=user, wait_s=lock_wait_s, ttl_s=lock_ttl_s)
    try:
        plan = make_plan(spec, env, delivery=delivery, facts=facts, commit=commit)
        if plan.refusals:
            raise PlanRefused(plan)
        held: tuple[Change, ...] = ()
        if not prune:
            held = tuple(c for c in plan.changes if c.action == "delete")
            plan.changes = [c for c in plan.changes if c.action != "delete"]
        if not plan.changes:
            return ApplyResult(plan, None, held)
        draft = ReleaseDraft(plan.spec_hash, _plan_json(plan, spec), commit=commit, author=author)
        chosen = actuator or RecordOnly()
        release = _run(delivery, plan, draft, owner=owner, user=user, actuator=chosen, ttl_s=lock_ttl_s)
        return ApplyResult(plan, release, held)
    finally:
        delivery.release_lock(project, env, owner=owner)


def rollback(
    project: str,
    env: str,
    *,
    delivery: DeliveryStore,
    facts: Facts,
    user: str,
    to: int | None = None,
    actuator: Actuator | None = None,
    lock_wait_s: float = 0.0,
) -> ApplyResult:
    """Restore the state release ``to`` left (default: the newest applied release before the
    current one) as a new release."""
    owner = lock_owner()
    take_lock(delivery, project, env, owner=owner, user=user, wait_s=lock_wait_s)
    try:
        releases = delivery.list_releases(project, env)
        finished = [r for r in releases if r.outcome in ("applied", "failed", "rolled-back")]
        if not finished:
            raise NotFoundError(f"{project}/{env} has no release to roll back")
        current = finished[0]
        if to is None:
            earlier = [r for r in finished[1:] if r.outcome in ("applied", "rolled-back")]
            if not earlier:
                raise NotFoundError(f"{project}/{env} has no release before {current.number} to roll back to")
            to = earlier[0].number
        target = delivery.get_release(project, env, to)
        if target.state is None:
            raise ConflictError(f"release {to} of {project}/{env} never finished; pick another release")
        actual = [o.state() for o in delivery.list_objects(project, env)]
        changes, unchanged = diff(target.state, actual, {})
        plan = Plan(project, env, target.spec_hash, changes, [], unchanged, target.commit, list(target.state))
        latest = delivery.get_release(project, env, current.number)
        plan.verdicts = [_rollback_applier(project, env, facts, latest.plan or {})]
        if plan.refusals:
            raise PlanRefused(plan)
        if not changes:
            return ApplyResult(plan, None)
        draft = ReleaseDraft(
            target.spec_hash,
            {**plan.to_json(), "apply_policy": (latest.plan or {}).get("apply_policy")},
            commit=target.commit,
            author=target.author,
            kind="rollback",
            restores=to,
        )
        release = _run(delivery, plan, draft, owner=owner, user=user, actuator=actuator or RecordOnly())
        return ApplyResult(plan, release)
    finally:
        delivery.release_lock(project, env, owner=owner)


def _rollback_applier(project: str, env: str, facts: Facts, recorded: Mapping[str, object]) -> Verdict:
    """Who may roll back: as who may apply, by the policy recorded with the current release."""
    from shipyard.deploy.spec.models import ApplyPolicy
    from shipyard.deploy.verdicts import applier_verdict

    raw = recorded.get("apply_policy")
    policy = ApplyPolicy.model_validate(raw) if isinstance(raw, Mapping) else ApplyPolicy()
    return applier_verdict(facts, project, env, policy)


def clear(
    project: str,
    env: str,
    *,
    delivery: DeliveryStore,
    user: str,
    actuator: Actuator | None = None,
    lock_wait_s: float = 0.0,
) -> ApplyResult:
    """Remove every object of ``env`` as one release (a deleted branch's slot: nothing is judged,
    since nothing is deployed)."""
    from shipyard.metadata.delivery import canonical_hash

    owner = lock_owner()
    take_lock(delivery, project, env, owner=owner, user=user, wait_s=lock_wait_s)
    try:
        actual = [o.state() for o in delivery.list_objects(project, env)]
        changes, unchanged = diff([], actual, {})
        plan = Plan(project, env, canonical_hash([]), changes, [], unchanged)
        if not changes:
            return ApplyResult(plan, None)
        draft = ReleaseDraft(plan.spec_hash, plan.to_json())
        release = _run(delivery, plan, draft, owner=owner, user=user, actuator=actuator or RecordOnly())
        return ApplyResult(plan, release)
    finally:
        delivery.release_lock(project, env, owner=owner)
