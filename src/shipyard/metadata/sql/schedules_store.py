"""The scheduler's claims in SQL (interface: ``shipyard.metadata.schedules``). A claim is one
``INSERT ... ON CONFLICT DO NOTHING`` on the primary key, atomic on SQLite and Postgres."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_name
from shipyard.metadata.base import check_page
from shipyard.metadata.schedules import FIRE_KINDS, MAX_SOURCE, ScheduleClaim, ScheduleStore
from shipyard.metadata.sql.dialect import insert_for
from shipyard.metadata.sql.schedules_schema import schedule_claims
from shipyard.metadata.sql.store import BorrowedTransactions

_C = schedule_claims.c
_MAX_ERROR = 2000


def _claim(row: Any) -> ScheduleClaim:
    return ScheduleClaim(
        flow=row.flow,
        source=row.source,
        position=int(row.position),
        kind=row.kind,
        claimed_at=row.claimed_at,
        claimed_by=row.claimed_by,
        event=row.event,
        run_id=row.run_id,
        error=row.error,
    )


def _check(claim: ScheduleClaim) -> None:
    validate_name("flow", claim.flow)
    if not claim.source or len(claim.source) > MAX_SOURCE:
        raise InvalidInputError(f"schedule source must be 1 to {MAX_SOURCE} characters")
    if claim.kind not in FIRE_KINDS:
        raise InvalidInputError(f"claim kind {claim.kind!r} is not one of {', '.join(FIRE_KINDS)}")
    if claim.event is not None and len(claim.event) > MAX_SOURCE:
        raise InvalidInputError(f"claim event is longer than {MAX_SOURCE} characters")


class SqlScheduleStore(BorrowedTransactions, ScheduleStore):
    def claim(self, claim: ScheduleClaim) -> bool:
        _check(claim)
        values = {
            "flow": claim.flow,
            "source": claim.source,
            "position": claim.position,
            "kind": claim.kind,
            "claimed_at": claim.claimed_at,
            "claimed_by": claim.claimed_by[:250],
            "event": claim.event,
            "run_id": claim.run_id,
            "error": None if claim.error is None else claim.error[:_MAX_ERROR],
        }
        with self._write() as conn:
            stmt = insert_for(conn, schedule_claims).values(**values)
            inserted = conn.execute(stmt.on_conflict_do_nothing().returning(_C.position)).first()
        return inserted is not None

    def last_position(self, flow: str, source: str) -> int | None:
        query = select(func.max(_C.position)).where(_C.flow == flow, _C.source == source)
        with self._read() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else int(value)

    def record_start(
        self, flow: str, source: str, position: int, *, run_id: str | None, error: str | None = None
    ) -> None:
        stmt = (
            update(schedule_claims)
            .where(_C.flow == flow, _C.source == source, _C.position == position)
            .values(run_id=run_id, error=None if error is None else error[:_MAX_ERROR])
        )
        with self._write() as conn:
            conn.execute(stmt)

    def list_claims(
        self,
        flow: str | None = None,
        *,
        source: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ScheduleClaim]:
        check_page(limit, offset)
        query = select(schedule_claims).order_by(_C.flow, _C.source, _C.position.desc()).offset(offset)
        if flow is not None:
            query = query.where(_C.flow == flow)
        if source is not None:
            query = query.where(_C.source == source)
        if kind is not None:
            query = query.where(_C.kind == kind)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_claim(row) for row in conn.execute(query)]
