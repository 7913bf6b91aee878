"""``shipyard sync``: the GitOps loop. Git is the source of truth; each pass makes the
environments' desired state (the :class:`~shipyard.metadata.delivery.DeliveryStore`) match the
spec at the head of one branch, and says per environment what it found (a sync status, stored
beside the releases so a team server shows it).

One pass: fetch the branch (:class:`~shipyard.deploy.gitrepo.GitMirror`), read and validate
``shipyard.yaml`` at its head commit, and for each environment plan against the store:

- no changes → **synced** at that commit;
- a verdict refuses → **degraded** with the verdicts; nothing applied;
- changes and the head is not the commit this environment was last synced at (git moved, or a
  previous attempt failed or was refused) → apply them as a release recording the commit and
  its author, as ``shipyard apply --ref`` does; deletes only with ``prune`` (without it they stay
  and the environment is **out-of-sync**, "prune to delete"; with it they go at the next pass,
  new commit or not);
- creates or updates although git did not move → **drift**: someone applied by hand from another
  ref, rolled back, or an alias moved. Reported **out-of-sync** with what differs; ``self_heal``
  re-applies git's state instead.

A spec that does not parse or validate, a branch that cannot be fetched, a failed release: every
affected environment is **degraded** with the error (a spec error at its file:line:column) and
keeps what it runs. The status records the head commit, the last commit synced in full, and the
release the environment runs with that release's commit.

The loop (:meth:`Syncer.run`) passes every ``interval_s``, or sooner when a webhook bumped the
wake counter of one of its environments (``POST /api/v1/deploy/P/E/sync/hook``); it checks the
counters every ``wake_check_s``. What runs follows from the desired state: the release's
:class:`~shipyard.deploy.apply.Actuator` (the ``actuator`` given here) acts on each release's
changes, and a runtime agent reconciles from :meth:`DeliveryStore.desired`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import ConflictError, InvalidInputError, ShipyardError
from shipyard.deploy.apply import Actuator, apply
from shipyard.deploy.gitrepo import GitMirror, Head
from shipyard.deploy.plan import Change, PlanRefused, make_plan
from shipyard.metadata.delivery import MAX_SYNC_DRIFT, Release, SyncReport

if TYPE_CHECKING:
    from shipyard.deploy.facts import Facts
    from shipyard.deploy.spec.models import Spec
    from shipyard.metadata.delivery import DeliveryStore

log = logging.getLogger("shipyard.deploy.sync")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_interval(text: str, *, what: str = "--interval") -> float:
    """``"30s"``, ``"1m30s"``, ``"500ms"`` or ``"2h"`` as seconds (0.1 s to 1 day)."""
    value = text.strip().lower().replace(" ", "")
    hint = "use a number with a unit ms, s, m or h, e.g. 30s or 5m"
    if not value or _DURATION.sub("", value):
        raise InvalidInputError(f"{what} {text!r} is not a duration: {hint}")
    seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(value))
    if not 0.1 <= seconds <= 86_400:
        raise InvalidInputError(f"{what} {text!r} must be between 100ms and 24h")
    return seconds


@dataclass(frozen=True)
class SyncOptions:
    repo: str  # a local path or a git URL
    branch: str = "main"
    path: str = "shipyard.yaml"  # the spec, relative to the repository's root
    environments: tuple[str, ...] = ()  # () = every one the spec declares
    project: str | None = None  # where to report when the spec cannot be read at all
    self_heal: bool = False
    prune: bool = False
    interval_s: float = 30.0
    wake_check_s: float = 0.5
    lock_wait_s: float = 10.0


@dataclass(frozen=True)
class EnvSync:
    environment: str
    report: SyncReport
    release: Release | None = None  # the release this pass made
    stored: str | None = None  # why the status could not be stored (None: it was)

    def line(self) -> str:
        r = self.report
        at = f" at {r.revision[:12]}" if r.revision else ""
        text = f"{self.environment}: {r.status}{at}"
        if self.release is not None:
            text += f", release {self.release.number} {self.release.outcome}"
        elif r.release is not None:
            running = f" ({r.running_commit[:12]})" if r.running_commit else ""
            text += f", runs release {r.release}{running}"
        if r.reason:
            text += f": {r.reason}"
        if self.stored:
            text += f" [status not stored: {self.stored}]"
        return text


@dataclass(frozen=True)
class SyncPass:
    project: str | None
    head: Head | None
    environments: list[EnvSync]
    seconds: float

    @property
    def degraded(self) -> bool:
        return any(e.report.status == "degraded" for e in self.environments)


@dataclass
class _Names:
    """The project and environments the spec named the last time it could be read."""

    project: str | None = None
    environments: tuple[str, ...] = ()


def _drift(changes: Sequence[Change]) -> tuple[dict[str, str], ...]:
    return tuple({"action": c.action, "kind": c.kind, "name": c.name} for c in changes[:MAX_SYNC_DRIFT])


def _listed(changes: Sequence[Change]) -> str:
    names = ", ".join(f"{c.action} {c.kind} {c.name}" for c in changes[:5])
    return names + (f" and {len(changes) - 5} more" if len(changes) > 5 else "")


def _kept(held: Sequence[Change]) -> str:
    return (
        f"{len(held)} object(s) git no longer declares kept ({_listed(held)}): sync with --prune deletes them"
    )


def _learn(names: _Names, data: Any) -> None:
    """Remember the project and environments a spec names, even one that does not validate."""
    if not isinstance(data, dict):
        return
    project = data.get("project")
    if isinstance(project, dict) and isinstance(project.get("name"), str):
        names.project = project["name"]
    envs = data.get("environments")
    if isinstance(envs, dict):
        names.environments = tuple(str(e) for e in envs)


@dataclass
class Syncer:
    """Syncs the environments of one branch's spec into ``delivery``; ``facts`` makes a fresh
    :class:`~shipyard.deploy.facts.Facts` per plan (its answers are cached for its life)."""

    options: SyncOptions
    home: Path
    delivery: DeliveryStore
    facts: Callable[[], Facts]
    user: str
    actuator: Actuator | None = None
    mirror: GitMirror = field(init=False)
    _names: _Names = field(init=False)
    _read: tuple[str, Spec] | None = field(init=False, default=None)  # the last valid spec, by commit

    def __post_init__(self) -> None:
        self.mirror = GitMirror(self.options.repo, self.options.branch, self.home)
        self._names = _Names(self.options.project)

    # ---- one pass ----------------------------------------------------------------------------------
    def sync_once(self) -> SyncPass:
        """Fetch, read the spec at the head, sync each environment, store their statuses."""
        from shipyard.deploy.spec.load import MAX_SPEC_BYTES, parse, validate

        start = time.perf_counter()
        head: Head | None = None
        try:
            head = self.mirror.fetch()
            if self._read is not None and self._read[0] == head.commit:  # git did not move
                spec = self._read[1]
            else:
                text = self.mirror.show(head.commit, self.options.path, max_bytes=MAX_SPEC_BYTES)
                doc = parse(text, f"{self.options.path}@{head.commit[:12]}")
                _learn(self._names, doc.data)
                spec = validate(doc)
                self._read = (head.commit, spec)
        except ShipyardError as exc:
            what = "the spec is invalid" if head is not None else "git"
            results = [
                self._degraded(e, head, f"{what}: {exc}")
                for e in self.options.environments or self._names.environments
            ]
            return SyncPass(self._names.project, head, results, time.perf_counter() - start)
        self._names.project = spec.project.name
        envs = self.options.environments or tuple(spec.environments)
        results = [self._sync_env(spec, env, head) for env in envs]
        return SyncPass(spec.project.name, head, results, time.perf_counter() - start)

    def _sync_env(self, spec: Spec, env: str, head: Head) -> EnvSync:
        project = spec.project.name
        if env not in spec.environments:
            known = ", ".join(spec.environments)
            return self._degraded(
                env, head, f"{self.options.path} does not declare environment {env!r} ({known})"
            )
        try:
            previous = self.delivery.get_sync(project, env)
            synced = previous.synced_revision if previous is not None else None
            plan = make_plan(spec, env, delivery=self.delivery, facts=self.facts(), commit=head.commit)
        except ShipyardError as exc:
            return self._degraded(env, head, str(exc))
        if plan.refusals:
            reason = "refused: " + "; ".join(v.text for v in plan.refusals)
            return self._degraded(env, head, reason, drift=plan.changes)
        if not plan.changes:
            return self._report(env, head, "synced", None, synced=head.commit)
        held = [c for c in plan.changes if c.action == "delete" and not self.options.prune]
        wanted = [c for c in plan.changes if c not in held]
        if not wanted:
            return self._report(env, head, "out-of-sync", _kept(held), synced=head.commit, drift=held)
        drifted = [c for c in wanted if c.action != "delete"]  # --prune deletes without a new commit
        if head.commit == synced and not self.options.self_heal and drifted:
            reason = (
                f"{len(drifted)} object(s) differ from git at {head.commit[:12]} ({_listed(drifted)}): "
                "applied by hand, rolled back or an alias moved; sync with --self-heal re-applies git's state"
            )
            return self._report(env, head, "out-of-sync", reason, synced=synced, drift=plan.changes)
        return self._apply(spec, env, head, synced)

    def _apply(self, spec: Spec, env: str, head: Head, synced: str | None) -> EnvSync:
        try:
            result = apply(
                spec,
                env,
                delivery=self.delivery,
                facts=self.facts(),
                user=self.user,
                actuator=self.actuator,
                commit=head.commit,
                author=head.author,
                lock_wait_s=self.options.lock_wait_s,
                prune=self.options.prune,
            )
        except PlanRefused as refused:
            reason = "refused: " + "; ".join(v.text for v in refused.plan.refusals)
            return self._degraded(env, head, reason, drift=refused.plan.changes)
        except ConflictError as exc:  # another applier holds the environment: the next pass retries
            return self._report(env, head, "out-of-sync", f"not applied yet: {exc}", synced=synced)
        except ShipyardError as exc:
            return self._degraded(env, head, f"apply failed: {exc}")
        release = result.release
        if release is not None and release.outcome == "failed":
            reason = f"release {release.number} failed: {release.error}"
            return self._report(env, head, "degraded", reason, synced=synced, release=release)
        if result.held:
            kept = _kept(result.held)
            return self._report(
                env, head, "out-of-sync", kept, synced=head.commit, drift=result.held, release=release
            )
        return self._report(env, head, "synced", None, synced=head.commit, release=release)

    # ---- statuses ----------------------------------------------------------------------------------
    def _degraded(self, env: str, head: Head | None, reason: str, *, drift: Sequence[Change] = ()) -> EnvSync:
        synced = None
        project = self._names.project
        if project is not None:
            try:
                previous = self.delivery.get_sync(project, env)
                synced = previous.synced_revision if previous is not None else None
            except ShipyardError:
                pass
        return self._report(env, head, "degraded", reason, synced=synced, drift=drift)

    def _report(
        self,
        env: str,
        head: Head | None,
        status: str,
        reason: str | None,
        *,
        synced: str | None,
        drift: Sequence[Change] = (),
        release: Release | None = None,
    ) -> EnvSync:
        project = self._names.project
        running: tuple[int | None, str | None] = (None, None)
        stored: str | None = "the project is unknown: the spec could not be read (give --project)"
        report = SyncReport(
            status=status,
            reason=reason[:4000] if reason else None,
            repo=self.mirror.display[:600],
            branch=self.options.branch,
            revision=head.commit if head else None,
            synced_revision=synced,
            drift=_drift(drift),
            drifted=len(drift),
        )
        if project is not None:
            try:
                running = self._running(project, env)
                report = replace(report, release=running[0], running_commit=running[1])
                self.delivery.record_sync(project, env, report, by=self.user)
                stored = None
            except ShipyardError as exc:
                stored = str(exc)
                log.warning("could not store the sync status of %s/%s: %s", project, env, exc)
        return EnvSync(env, report, release, stored)

    def _running(self, project: str, env: str) -> tuple[int | None, str | None]:
        """The newest applied release (the state the environment runs) and its commit."""
        page, offset = 50, 0
        while offset < 1000:
            rows = self.delivery.list_releases(project, env, limit=page, offset=offset)
            for r in rows:
                if r.outcome == "applied":
                    return r.number, r.commit
            if len(rows) < page:
                break
            offset += page
        return None, None

    # ---- the loop ----------------------------------------------------------------------------------
    def wakes(self) -> dict[str, int]:
        """The wake counters of this loop's environments (a webhook bumps one to poll now)."""
        project = self._names.project
        if project is None:
            return {}
        wanted = set(self.options.environments or self._names.environments)
        try:
            rows = self.delivery.list_syncs(project, limit=1000)
        except ShipyardError as exc:
            log.warning("could not read the sync wake-ups of %s: %s", project, exc)
            return {}
        return {s.environment: s.wake for s in rows if not wanted or s.environment in wanted}

    def run(self, stop: threading.Event, on_pass: Callable[[SyncPass], None]) -> None:
        """Pass, then wait ``interval_s`` (or less, when woken), until ``stop`` is set."""
        while not stop.is_set():
            seen = self.wakes()
            try:
                done = self.sync_once()
            except Exception:  # one bad pass must not end the loop
                log.exception("a sync pass of %s failed", self.mirror.display)
                done = SyncPass(self._names.project, None, [], 0.0)
            on_pass(done)
            deadline = time.monotonic() + self.options.interval_s
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0 or stop.wait(min(left, self.options.wake_check_s)):
                    break
                now = self.wakes()
                if any(count > seen.get(env, 0) for env, count in now.items()):
                    break
