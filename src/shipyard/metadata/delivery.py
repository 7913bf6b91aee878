"""The delivery state interface: per (project, environment) the applied objects (the desired
state), the releases that changed them, and the apply lock.

``shipyard plan`` compares a spec with :meth:`DeliveryStore.desired`; ``shipyard apply`` takes the
lock, opens a release with :meth:`DeliveryStore.begin_release` (the desired state changes in the
same transaction), lets an actuator act, and closes it with :meth:`DeliveryStore.finish_release`
(restoring the objects an actuator could not apply). A runtime agent reconciles what runs with
:meth:`DeliveryStore.desired`. :func:`open_delivery_store` picks the implementation beside a
metadata store: SQL tables in the same database (``metadata/sql/delivery_store.py``) or a shipyard
server's routes (``metadata/rest/delivery.py``, decided there at ``project:P/env:E`` with
``deploy:plan`` to read and ``deploy:apply`` to change).

Writing a new backend
---------------------
Subclass :class:`DeliveryStore`, teach :func:`open_delivery_store` to build it, and run
``tests/contract/test_delivery_contract.py`` against it. The rules every backend keeps:

- release numbers are per environment, start at 1, are assigned in the transaction that writes
  the release and its objects, and are never reused;
- :meth:`begin_release` and :meth:`finish_release` refuse (ConflictError naming the holder)
  unless the caller holds the environment's lock; a release still ``applying`` when the next one
  begins was left by an applier that died and is marked ``failed`` ("interrupted");
- each release keeps the whole desired state it left (``state``), so a rollback restores it
  exactly; the state is computed by the store, never sent by the client;
- the lock is one row per environment; it expires on the store's clock (a client's clock never
  decides), and an expired lock is taken over by the next applier;
- every finished release leaves an audit event ``release.<outcome>`` (who, the release, the spec
  hash, the commit; never a setting's value) in the same transaction;
- lists take ``limit``/``offset`` in a total order (objects by kind order then name, releases
  newest first, environments and sync statuses by project then name); ``limit=None`` is all; a
  negative one is InvalidInputError; environments also take ``after``, a keyset. An unknown
  release is NotFoundError naming it;
- a sync status is one row per environment: :meth:`record_sync` replaces what a sync loop said
  (its time on the store's clock, who said it) and keeps the wake counter, which only
  :meth:`request_sync` changes (by one; the row is created ``unknown`` when the loop never ran).
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from shipyard.metadata.base import MetadataStore

#: the kinds of applied objects, in the order an apply creates them (deletes go in reverse)
KINDS = ("environment", "service", "batch", "flow", "monitor", "experiment")
OUTCOMES = ("applying", "applied", "failed", "rolled-back")
#: what a sync loop says of an environment (``unknown``: a wake was asked before any loop ran)
SYNC_STATUSES = ("synced", "out-of-sync", "degraded", "unknown")
MAX_SYNC_DRIFT = 200  # drifted objects a sync status lists (the count says how many in all)
DEFAULT_LOCK_TTL_S = 120.0
MAX_LOCK_TTL_S = 3600.0


def canonical_hash(value: Any) -> str:
    """sha256 of the canonical JSON of ``value`` (sorted keys)."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class ObjectState:
    """One object of an environment's desired state: its spec after the environment's overrides,
    and the model version its reference resolved to when it was applied (``models:/fraud/7``)."""

    kind: str  # one of KINDS
    name: str
    spec: dict[str, Any]
    model_version: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.name


@dataclass(frozen=True)
class AppliedObject:
    project: str
    environment: str
    kind: str
    name: str
    spec: dict[str, Any]
    model_version: str | None
    release: int  # the release that last changed it
    updated_at: datetime

    def state(self) -> ObjectState:
        return ObjectState(self.kind, self.name, self.spec, self.model_version)


@dataclass(frozen=True)
class ReleaseDraft:
    """What an applier says about a release it opens (who applies is the store's to record)."""

    spec_hash: str
    plan: dict[str, Any]
    commit: str | None = None
    author: str | None = None
    kind: str = "apply"  # "apply" | "rollback"
    restores: int | None = None  # a rollback: the release whose state it restores


@dataclass(frozen=True)
class Release:
    project: str
    environment: str
    number: int
    kind: str
    spec_hash: str
    commit: str | None
    author: str | None
    applied_by: str
    outcome: str  # one of OUTCOMES
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    restores: int | None = None
    changes: int = 0
    plan: dict[str, Any] | None = None  # with get_release only
    state: list[ObjectState] | None = None  # with get_release only


@dataclass(frozen=True)
class ApplyLock:
    project: str
    environment: str
    owner: str  # the applier's own token for this apply (host:pid:nonce)
    held_by: str  # the principal
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class EnvironmentState:
    project: str
    environment: str
    release: int | None  # the newest release
    outcome: str | None
    commit: str | None
    applied_at: datetime | None
    objects: int


@dataclass(frozen=True)
class SyncReport:
    """What a sync loop says of an environment after a pass (``shipyard sync``)."""

    status: str  # one of SYNC_STATUSES
    reason: str | None = None  # why not synced: the verdicts, the spec error, what drifted
    repo: str | None = None  # the repository as shown (never with credentials)
    branch: str | None = None
    revision: str | None = None  # the branch's head commit at this pass
    synced_revision: str | None = None  # the last commit the loop applied in full
    release: int | None = None  # the release the environment runs
    running_commit: str | None = None  # that release's commit
    drift: tuple[dict[str, str], ...] = ()  # {action, kind, name} git wants and is not applied
    drifted: int = 0  # how many in all (drift lists at most MAX_SYNC_DRIFT; stored as at least that)


@dataclass(frozen=True)
class SyncStatus:
    project: str
    environment: str
    status: str
    reason: str | None
    repo: str | None
    branch: str | None
    revision: str | None
    synced_revision: str | None
    release: int | None
    running_commit: str | None
    drift: list[dict[str, str]]
    drifted: int
    checked_at: datetime | None  # the store's clock
    checked_by: str | None
    wake: int  # how many times a webhook asked for a poll (a loop polls when it changes)
    woken_at: datetime | None


@dataclass(frozen=True)
class Applier:
    """Who would apply: the principal, its kind (user | service), the roles bound to it at a scope
    that reaches the environment, and whether it holds ``deploy:apply`` there."""

    name: str
    kind: str = "user"
    roles: tuple[str, ...] = ()
    can_apply: bool = True


class DeliveryStore(abc.ABC):
    # ---- the lock ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def acquire_lock(
        self, project: str, environment: str, *, owner: str, by: str, ttl_s: float = DEFAULT_LOCK_TTL_S
    ) -> ApplyLock:
        """Take (or extend, for the same owner) the environment's lock for ``ttl_s`` seconds on the
        store's clock; ConflictError naming the holder while another owner's lock has not expired."""

    @abc.abstractmethod
    def release_lock(self, project: str, environment: str, *, owner: str) -> bool:
        """Drop the lock if ``owner`` holds it (True), else leave it (False)."""

    @abc.abstractmethod
    def get_lock(self, project: str, environment: str) -> ApplyLock | None:
        """The unexpired lock, if any."""

    # ---- releases ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def begin_release(
        self,
        project: str,
        environment: str,
        draft: ReleaseDraft,
        *,
        owner: str,
        by: str,
        put: Sequence[ObjectState] = (),
        remove: Sequence[tuple[str, str]] = (),
    ) -> Release:
        """In one transaction: check ``owner`` holds the lock, number the release, write it
        (outcome ``applying``) and change the desired state (``put`` upserts, ``remove`` deletes
        (kind, name))."""

    @abc.abstractmethod
    def finish_release(
        self,
        project: str,
        environment: str,
        number: int,
        *,
        owner: str,
        outcome: str,
        error: str | None = None,
        put: Sequence[ObjectState] = (),
        remove: Sequence[tuple[str, str]] = (),
    ) -> Release:
        """In one transaction: restore objects an actuator could not apply (``put``/``remove``),
        set the outcome (``applied`` | ``failed``), keep the resulting state on the release, mark
        the release a rollback replaced ``rolled-back``, and record the audit event."""

    @abc.abstractmethod
    def get_release(self, project: str, environment: str, number: int) -> Release:
        """With its plan and state; NotFoundError naming it."""

    @abc.abstractmethod
    def list_releases(
        self, project: str, environment: str, *, limit: int | None = None, offset: int = 0
    ) -> list[Release]:
        """Newest first, without plan and state."""

    # ---- state -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def list_objects(
        self, project: str, environment: str, *, limit: int | None = None, offset: int = 0
    ) -> list[AppliedObject]:
        """The desired state: by kind (in :data:`KINDS` order) then name."""

    def desired(self, project: str, environment: str) -> list[AppliedObject]:
        """Every object of the environment's desired state (what a runtime agent reconciles)."""
        return self.list_objects(project, environment)

    @abc.abstractmethod
    def list_environments(
        self,
        project: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: tuple[str, str] | None = None,
    ) -> list[EnvironmentState]:
        """Environments with a release, by project then name (of ``project`` when given); with
        ``after`` (project, environment) only those that sort after it (keyset paging: a page
        read without counting the ones before it)."""

    # ---- sync status -------------------------------------------------------------------------------
    @abc.abstractmethod
    def record_sync(self, project: str, environment: str, report: SyncReport, *, by: str) -> SyncStatus:
        """Replace the environment's sync status with ``report`` (checked now, by ``by``), keeping
        its wake counter."""

    @abc.abstractmethod
    def get_sync(self, project: str, environment: str) -> SyncStatus | None:
        """The environment's sync status, if a loop or a wake ever wrote one."""

    @abc.abstractmethod
    def list_syncs(
        self,
        project: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: tuple[str, str] | None = None,
    ) -> list[SyncStatus]:
        """Sync statuses by project then environment (of ``project`` when given); with ``after``
        (project, environment) only those that sort after it (keyset paging on the primary key)."""

    @abc.abstractmethod
    def request_sync(self, project: str, environment: str, *, by: str) -> int:
        """Ask the environment's sync loop to poll now: its wake counter goes up by one (the new
        count is the answer; the status itself is not, as a webhook's token may not read it)."""

    # ---- what a plan asks ----------------------------------------------------------------------------
    @abc.abstractmethod
    def applier(self, project: str, environment: str, *, user: str) -> Applier:
        """Who applies here: a server answers for the token's principal; a database for ``user``."""

    @abc.abstractmethod
    def roles_at(self, project: str, environment: str, user: str) -> tuple[str, ...]:
        """The roles bound to principal ``user`` (its groups' included) at a scope that reaches the
        environment, sorted (what a promotion's four-eyes gate asks of the approver)."""

    @abc.abstractmethod
    def present_secrets(self, project: str, environment: str, names: Sequence[str]) -> set[str]:
        """Which of ``names`` exist as secrets of the environment (names only, never values)."""


def object_key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def states_json(states: Sequence[ObjectState]) -> list[dict[str, Any]]:
    return [
        {"kind": s.kind, "name": s.name, "spec": s.spec, "model_version": s.model_version} for s in states
    ]


def states_from_json(rows: Any) -> list[ObjectState]:
    out: list[ObjectState] = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, Mapping):
            spec = row.get("spec")
            out.append(
                ObjectState(
                    str(row.get("kind")),
                    str(row.get("name")),
                    dict(spec) if isinstance(spec, Mapping) else {},
                    row.get("model_version") if isinstance(row.get("model_version"), str) else None,
                )
            )
    return out


def check_sync_report(report: SyncReport) -> None:
    """InvalidInputError when ``report`` says what no sync status may hold."""
    from shipyard.core.errors import InvalidInputError

    if report.status not in SYNC_STATUSES:
        known = ", ".join(SYNC_STATUSES)
        raise InvalidInputError(f"unknown sync status {report.status!r}; use one of {known}")
    if len(report.drift) > MAX_SYNC_DRIFT or report.drifted < 0:
        raise InvalidInputError(
            f"a sync status lists at most {MAX_SYNC_DRIFT} drifted objects, and counts them (0 or more)"
        )


def kind_order(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def open_delivery_store(metadata: MetadataStore) -> DeliveryStore:
    """The delivery state that lives beside ``metadata`` (same database, or the same server)."""
    from shipyard.metadata.registry import companion_store

    store: DeliveryStore = companion_store(
        metadata,
        "delivery state",
        sql="shipyard.metadata.sql.delivery_store:SqlDeliveryStore",
        rest="shipyard.metadata.rest.delivery:RestDeliveryStore",
    )
    return store
