"""Delivery state in SQL (interface and rules: ``shipyard.metadata.delivery``); sync statuses in
``delivery_sync.py``.

Times come from the database's clock (:func:`~.dialect.store_now`), read once per transaction, so
a lock's expiry and a release's times never depend on a client's clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select, update

from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.metadata.base import check_page
from shipyard.metadata.delivery import (
    KINDS,
    MAX_LOCK_TTL_S,
    AppliedObject,
    Applier,
    ApplyLock,
    DeliveryStore,
    EnvironmentState,
    ObjectState,
    Release,
    ReleaseDraft,
    states_from_json,
    states_json,
)
from shipyard.metadata.security import AuditEvent
from shipyard.metadata.sql.delivery_schema import deploy_locks, deploy_objects, deploy_releases
from shipyard.metadata.sql.delivery_sync import SqlSyncRows
from shipyard.metadata.sql.dialect import insert_for, store_now
from shipyard.metadata.sql.types import from_micros

_O, _R, _L = deploy_objects.c, deploy_releases.c, deploy_locks.c
_KIND_ORDER = case({k: i for i, k in enumerate(KINDS)}, value=_O.kind, else_=len(KINDS))
_FINISHED = ("applied", "failed")


def _now(conn: Connection) -> int:
    return int(conn.execute(select(store_now(conn))).scalar_one())


def _lock(row: Any) -> ApplyLock:
    return ApplyLock(
        row.project,
        row.environment,
        row.owner,
        row.held_by,
        from_micros(int(row.acquired_at)),
        from_micros(int(row.expires_at)),
    )


def _held_message(lock: ApplyLock) -> str:
    return (
        f"environment {lock.project}/{lock.environment} is being applied by {lock.held_by} "
        f"({lock.owner}) since {lock.acquired_at:%Y-%m-%d %H:%M:%S} UTC; its lock expires at "
        f"{lock.expires_at:%H:%M:%S} UTC: wait for it, or apply again after it expires"
    )


def _release(row: Any, full: bool = False) -> Release:
    plan = getattr(row, "plan", None) if full else None
    plan = plan if isinstance(plan, Mapping) else None
    state = getattr(row, "state", None) if full else None
    return Release(
        project=row.project,
        environment=row.environment,
        number=int(row.number),
        kind=row.kind,
        spec_hash=row.spec_hash,
        commit=row.commit,
        author=row.author,
        applied_by=row.applied_by,
        outcome=row.outcome,
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
        restores=row.restores,
        changes=int(row.changes),
        plan=dict(plan) if plan is not None else None,
        state=states_from_json(state) if state is not None else None,
    )


def _object(row: Any) -> AppliedObject:
    return AppliedObject(
        project=row.project,
        environment=row.environment,
        kind=row.kind,
        name=row.name,
        spec=dict(row.spec) if isinstance(row.spec, Mapping) else {},
        model_version=row.model_version,
        release=int(row.release),
        updated_at=row.updated_at,
    )


def _env(project: str, environment: str) -> Any:
    return and_(_O.project == project, _O.environment == environment)


class SqlDeliveryStore(SqlSyncRows, DeliveryStore):
    # ---- the lock ----------------------------------------------------------------------------------
    def acquire_lock(
        self, project: str, environment: str, *, owner: str, by: str, ttl_s: float = 120.0
    ) -> ApplyLock:
        if not 0 < ttl_s <= MAX_LOCK_TTL_S:
            raise InvalidInputError(f"a lock's ttl must be more than 0 and at most {MAX_LOCK_TTL_S:g} s")
        where = and_(_L.project == project, _L.environment == environment)
        try:
            with self._write() as conn:
                now = _now(conn)
                expires = now + int(ttl_s * 1_000_000)
                row = conn.execute(select(deploy_locks).where(where)).first()
                if row is None:
                    values = {"project": project, "environment": environment, "owner": owner}
                    conn.execute(
                        insert(deploy_locks).values(**values, held_by=by, acquired_at=now, expires_at=expires)
                    )
                    return ApplyLock(project, environment, owner, by, from_micros(now), from_micros(expires))
                if row.owner != owner and int(row.expires_at) > now:
                    raise ConflictError(_held_message(_lock(row)))
                acquired = int(row.acquired_at) if row.owner == owner else now
                done = conn.execute(
                    update(deploy_locks)
                    .where(where, _L.owner == row.owner, _L.expires_at == row.expires_at)
                    .values(owner=owner, held_by=by, acquired_at=acquired, expires_at=expires)
                )
                if done.rowcount == 1:
                    times = from_micros(acquired), from_micros(expires)
                    return ApplyLock(project, environment, owner, by, *times)
        except ConflictError as exc:
            if "is being applied by" in str(exc):
                raise
        held = self.get_lock(project, environment)  # another applier won the race
        if held is not None:
            raise ConflictError(_held_message(held))
        raise ConflictError(f"environment {project}/{environment}'s lock changed hands meanwhile: try again")

    def release_lock(self, project: str, environment: str, *, owner: str) -> bool:
        with self._write() as conn:
            done = conn.execute(
                delete(deploy_locks).where(
                    _L.project == project, _L.environment == environment, _L.owner == owner
                )
            )
            return bool(done.rowcount)

    def get_lock(self, project: str, environment: str) -> ApplyLock | None:
        with self._read() as conn:
            row = conn.execute(
                select(deploy_locks).where(
                    _L.project == project, _L.environment == environment, _L.expires_at > store_now(conn)
                )
            ).first()
        return None if row is None else _lock(row)

    def _check_holder(self, conn: Connection, project: str, environment: str, owner: str) -> None:
        """The lock row must name ``owner`` (an expired lock nobody took over is still its own)."""
        row = conn.execute(
            select(deploy_locks).where(_L.project == project, _L.environment == environment)
        ).first()
        if row is None or row.owner != owner:
            held = "" if row is None else f"; {_held_message(_lock(row))}"
            raise ConflictError(
                f"this applier does not hold environment {project}/{environment}'s lock{held}"
            )

    # ---- releases ----------------------------------------------------------------------------------
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
        _check_kinds(put, remove)
        if draft.kind not in ("apply", "rollback"):
            raise InvalidInputError(f"unknown release kind {draft.kind!r}; use apply or rollback")
        with self._write() as conn:
            self._check_holder(conn, project, environment, owner)
            now = _now(conn)
            mine = and_(_R.project == project, _R.environment == environment)
            conn.execute(
                update(deploy_releases)
                .where(mine, _R.outcome == "applying")
                .values(
                    outcome="failed",
                    error="interrupted: its applier stopped before the release finished",
                    finished_at=from_micros(now),
                )
            )
            last = conn.execute(select(func.max(_R.number)).where(mine)).scalar()
            number = int(last or 0) + 1
            _change(conn, (project, environment), number, now, put=put, remove=remove)
            row = {
                "project": project,
                "environment": environment,
                "number": number,
                "kind": draft.kind,
                "spec_hash": draft.spec_hash,
                "commit": draft.commit,
                "author": draft.author,
                "applied_by": by,
                "outcome": "applying",
                "error": None,
                "created_at": from_micros(now),
                "finished_at": None,
                "restores": draft.restores,
                "changes": len(put) + len(remove),
                "plan": draft.plan,
                "state": None,
            }
            conn.execute(insert(deploy_releases).values(**row))
            found = conn.execute(select(deploy_releases).where(mine, _R.number == number)).one()
        return _release(found)

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
        from shipyard.metadata.sql.security_store import append_audit

        if outcome not in _FINISHED:
            raise InvalidInputError(f"a release finishes as applied or failed, not {outcome!r}")
        _check_kinds(put, remove)
        mine = and_(_R.project == project, _R.environment == environment)
        with self._write() as conn:
            self._check_holder(conn, project, environment, owner)
            row = conn.execute(select(deploy_releases).where(mine, _R.number == number)).first()
            if row is None:
                raise _missing(project, environment, number)
            if row.outcome != "applying":
                raise ConflictError(
                    f"release {number} of {project}/{environment} already finished ({row.outcome})"
                )
            now = _now(conn)
            _change(conn, (project, environment), number, now, put=put, remove=remove)
            objects = conn.execute(
                select(deploy_objects).where(_env(project, environment)).order_by(_KIND_ORDER, _O.name)
            )
            state = states_json([_object(o).state() for o in objects])
            conn.execute(
                update(deploy_releases)
                .where(mine, _R.number == number)
                .values(outcome=outcome, error=error, finished_at=from_micros(now), state=state)
            )
            if row.kind == "rollback" and outcome == "applied":
                replaced = conn.execute(
                    select(func.max(_R.number)).where(mine, _R.number < number, _R.outcome.in_(_FINISHED))
                ).scalar()
                if replaced is not None:
                    marked = update(deploy_releases).where(mine, _R.number == replaced)
                    conn.execute(marked.values(outcome="rolled-back"))
            detail = {
                "release": number,
                "kind": row.kind,
                "outcome": outcome,
                "spec_hash": row.spec_hash,
                "commit": row.commit,
                "changes": int(row.changes),
                "restores": row.restores,
            }
            append_audit(
                conn,
                [
                    AuditEvent(
                        at=from_micros(now),
                        user=row.applied_by,
                        action=f"release.{outcome}",
                        target=f"{project}/{environment}/releases/{number}",
                        status=200 if outcome == "applied" else 500,
                        scope=f"project:{project}/env:{environment}",
                        detail=orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode(),
                    )
                ],
            )
            found = conn.execute(select(deploy_releases).where(mine, _R.number == number)).one()
        return _release(found, full=True)

    def get_release(self, project: str, environment: str, number: int) -> Release:
        with self._read() as conn:
            row = conn.execute(
                select(deploy_releases).where(
                    _R.project == project, _R.environment == environment, _R.number == number
                )
            ).first()
        if row is None:
            raise _missing(project, environment, number)
        return _release(row, full=True)

    def list_releases(
        self, project: str, environment: str, *, limit: int | None = None, offset: int = 0
    ) -> list[Release]:
        check_page(limit, offset)
        columns = [c for c in deploy_releases.c if c.name not in ("plan", "state")]
        query = (
            select(*columns)
            .where(_R.project == project, _R.environment == environment)
            .order_by(_R.number.desc())
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_release(row) for row in conn.execute(query)]

    # ---- state -------------------------------------------------------------------------------------
    def list_objects(
        self, project: str, environment: str, *, limit: int | None = None, offset: int = 0
    ) -> list[AppliedObject]:
        check_page(limit, offset)
        query = (
            select(deploy_objects)
            .where(_env(project, environment))
            .order_by(_KIND_ORDER, _O.name)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_object(row) for row in conn.execute(query)]

    def list_environments(
        self,
        project: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: tuple[str, str] | None = None,
    ) -> list[EnvironmentState]:
        check_page(limit, offset)
        newest = select(_R.project, _R.environment, func.max(_R.number).label("number")).group_by(
            _R.project, _R.environment
        )
        if project is not None:
            newest = newest.where(_R.project == project)
        if after is not None:  # keyset: (project, environment) > after, on the primary key's index
            newest = newest.where(
                or_(_R.project > after[0], and_(_R.project == after[0], _R.environment > after[1]))
            )
        sub = newest.subquery("newest")
        counts = (
            select(_O.project, _O.environment, func.count().label("objects"))
            .group_by(_O.project, _O.environment)
            .subquery("counts")
        )
        query = (
            select(
                sub.c.project,
                sub.c.environment,
                sub.c.number,
                _R.outcome,
                _R.commit,
                _R.finished_at,
                func.coalesce(counts.c.objects, 0).label("objects"),
            )
            .join(
                deploy_releases,
                and_(
                    _R.project == sub.c.project,
                    _R.environment == sub.c.environment,
                    _R.number == sub.c.number,
                ),
            )
            .outerjoin(
                counts, and_(counts.c.project == sub.c.project, counts.c.environment == sub.c.environment)
            )
            .order_by(sub.c.project, sub.c.environment)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [
                EnvironmentState(
                    r.project,
                    r.environment,
                    int(r.number),
                    r.outcome,
                    r.commit,
                    r.finished_at,
                    int(r.objects),
                )
                for r in conn.execute(query)
            ]

    # ---- what a plan asks ----------------------------------------------------------------------------
    def applier(self, project: str, environment: str, *, user: str) -> Applier:
        """A database belongs to whoever can open it (security is the server's): the user may apply;
        its kind and roles come from the security tables when it is a known principal there."""
        from shipyard.metadata.sql.security_schema import users

        with self._read() as conn:
            found = conn.execute(select(users.c.kind).where(users.c.name == user)).first()
        if found is None:
            return Applier(user)
        from shipyard.metadata.sql.security_store import SqlSecurityStore

        pairs, _ = SqlSecurityStore(self._metadata).access_rows(user)
        scope = f"project:{project}/env:{environment}"
        roles = sorted({role for role, at in pairs if _covers(at, scope)})
        return Applier(user, str(found.kind), tuple(roles), True)

    def roles_at(self, project: str, environment: str, user: str) -> tuple[str, ...]:
        from shipyard.metadata.sql.security_store import SqlSecurityStore

        pairs, _ = SqlSecurityStore(self._metadata).access_rows(user)
        scope = f"project:{project}/env:{environment}"
        return tuple(sorted({role for role, at in pairs if _covers(at, scope)}))

    def present_secrets(self, project: str, environment: str, names: Sequence[str]) -> set[str]:
        from shipyard.metadata.sql.secrets_schema import secrets

        wanted = sorted(set(names))
        if not wanted:
            return set()
        s = secrets.c
        with self._read() as conn:
            rows = conn.execute(
                select(s.name).where(s.project == project, s.environment == environment, s.name.in_(wanted))
            )
            return {row.name for row in rows}


def _covers(outer: str, inner: str) -> bool:
    return outer in ("*", inner) or inner.startswith(outer + "/")


def _missing(project: str, environment: str, number: int) -> NotFoundError:
    return NotFoundError(
        f"release {number} of {project}/{environment} does not exist: "
        f"`shipyard releases list -e {environment}` lists them"
    )


def _check_kinds(put: Sequence[ObjectState], remove: Sequence[tuple[str, str]]) -> None:
    for kind in [s.kind for s in put] + [k for k, _ in remove]:
        if kind not in KINDS:
            raise InvalidInputError(f"unknown object kind {kind!r}; use one of {', '.join(KINDS)}")


def _change(
    conn: Connection,
    where: tuple[str, str],
    number: int,
    now: int,
    *,
    put: Sequence[ObjectState],
    remove: Sequence[tuple[str, str]],
) -> None:
    project, environment = where
    for kind, name in remove:
        gone = delete(deploy_objects).where(_env(project, environment), _O.kind == kind, _O.name == name)
        conn.execute(gone)
    if not put:
        return
    rows = [
        {
            "project": project,
            "environment": environment,
            "kind": s.kind,
            "name": s.name,
            "spec": s.spec,
            "model_version": s.model_version,
            "release": number,
            "updated_at": from_micros(now),
        }
        for s in put
    ]
    stmt = insert_for(conn, deploy_objects)
    stmt = stmt.on_conflict_do_update(
        index_elements=["project", "environment", "kind", "name"],
        set_={
            "spec": stmt.excluded.spec,
            "model_version": stmt.excluded.model_version,
            "release": stmt.excluded.release,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    conn.execute(stmt, rows)
