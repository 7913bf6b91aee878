"""``SqlMonitoringRecords``: :class:`MonitoringRecords` in the SQL metadata store's database
(tables of :mod:`shipyard.metadata.sql.monitoring_schema`), on its transactions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, update

from shipyard.core.errors import NotFoundError
from shipyard.metadata.base import check_page
from shipyard.metadata.monitoring import (
    OPEN_ALERT_MONITORS,
    Alert,
    MonitoringRecords,
    ProfileEntry,
    ResultRow,
)
from shipyard.metadata.sql.monitoring_schema import (
    monitor_alerts,
    monitor_results,
    monitors,
    reference_profiles,
)
from shipyard.metadata.sql.store import BorrowedTransactions
from shipyard.metadata.sql.types import UNREADABLE

_P, _MON, _RES, _AL = reference_profiles.c, monitors.c, monitor_results.c, monitor_alerts.c


def _spec(row: Any) -> dict[str, Any]:
    """A stored spec; one that no longer decodes still names its monitor (the list answers)."""
    spec = row.spec
    if isinstance(spec, dict) and UNREADABLE not in spec:
        return dict(spec)
    return {
        "name": row.name,
        "deployment": row.deployment,
        UNREADABLE: str(spec.get(UNREADABLE, "not an object") if isinstance(spec, dict) else "not an object"),
    }


class SqlMonitoringRecords(BorrowedTransactions, MonitoringRecords):
    # ---- reference profiles ------------------------------------------------------------------------
    @staticmethod
    def _profile_row(conn: Connection, model: str, version: int) -> Any:
        return conn.execute(
            select(reference_profiles).where(_P.model_name == model, _P.version == version)
        ).first()

    def put_profile(self, model: str, version: int, digest: str, rows: int, at: datetime) -> None:
        with self._write() as conn:
            old = self._profile_row(conn, model, version)
            conn.execute(delete(reference_profiles).where(_P.model_name == model, _P.version == version))
            conn.execute(
                insert(reference_profiles).values(
                    model_name=model,
                    version=version,
                    digest=digest,
                    rows=rows,
                    created_at=at,
                    importance=old.importance if old else None,
                )
            )

    def get_profile(self, model: str, version: int) -> ProfileEntry | None:
        with self._read() as conn:
            row = self._profile_row(conn, model, version)
        if row is None:
            return None
        importance = dict(row.importance) if row.importance else None
        return ProfileEntry(model, version, row.digest, int(row.rows), row.created_at, importance)

    def set_importance(self, model: str, version: int, importance: Mapping[str, Any]) -> None:
        with self._write() as conn:
            if self._profile_row(conn, model, version) is None:
                raise NotFoundError(f"model {model} version {version} has no reference profile to attach to")
            conn.execute(
                update(reference_profiles)
                .where(_P.model_name == model, _P.version == version)
                .values(importance=dict(importance))
            )

    # ---- monitors ----------------------------------------------------------------------------------
    def put_monitor(self, name: str, deployment: str, spec: Mapping[str, Any], at: datetime) -> None:
        with self._write() as conn:
            if conn.execute(select(_MON.name).where(_MON.name == name)).first() is None:
                conn.execute(
                    insert(monitors).values(
                        name=name, deployment=deployment, spec=dict(spec), created_at=at, updated_at=at
                    )
                )
            else:
                conn.execute(
                    update(monitors)
                    .where(_MON.name == name)
                    .values(deployment=deployment, spec=dict(spec), updated_at=at)
                )

    def get_monitor(self, name: str) -> dict[str, Any]:
        with self._read() as conn:
            row = conn.execute(select(_MON.name, _MON.deployment, _MON.spec).where(_MON.name == name)).first()
            known = [r.name for r in conn.execute(select(_MON.name).order_by(_MON.name))]
        if row is None:
            raise NotFoundError(
                f"no monitor {name!r}; known: {', '.join(known) or 'none (shipyard monitor create)'}"
            )
        return _spec(row)

    def list_monitors(self, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        query = _page(select(_MON.name, _MON.deployment, _MON.spec).order_by(_MON.name), limit, offset)
        with self._read() as conn:
            return [_spec(r) for r in conn.execute(query)]

    # ---- results -----------------------------------------------------------------------------------
    def add_results(self, rows: Sequence[ResultRow]) -> None:
        if not rows:
            return
        with self._write() as conn:
            conn.execute(insert(monitor_results), [r.__dict__ for r in rows])

    def results(
        self, monitor: str, since: datetime | None = None, limit: int | None = None, *, offset: int = 0
    ) -> list[ResultRow]:
        query = select(monitor_results).where(_RES.monitor == monitor)
        if since is not None:
            query = query.where(_RES.at >= since)
        query = _page(query.order_by(_RES.at, _RES.id), limit, offset)  # id breaks ties: a total order
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            ResultRow(r.monitor, r.at, r.check, r.subject, r.value, r.threshold, bool(r.breached), r.detail)
            for r in rows
        ]

    # ---- alerts ------------------------------------------------------------------------------------
    def open_alert(self, monitor: str, key: str) -> Alert | None:
        with self._read() as conn:
            row = conn.execute(
                select(monitor_alerts)
                .where(_AL.monitor == monitor, _AL.key == key, _AL.resolved_at.is_(None))
                .order_by(_AL.id.desc())
            ).first()
        return _alert(row) if row is not None else None

    def create_alert(self, monitor: str, key: str, at: datetime, value: float | None, message: str) -> Alert:
        with self._write() as conn:
            result = conn.execute(
                insert(monitor_alerts).values(
                    monitor=monitor,
                    key=key,
                    opened_at=at,
                    last_seen_at=at,
                    value=value,
                    message=message,
                    delivery="pending",
                )
            )
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return Alert(new_id, monitor, key, at, at, None, value, message, "pending")

    def update_alert(
        self,
        alert_id: int,
        *,
        last_seen_at: datetime | None = None,
        value: float | None = None,
        resolved_at: datetime | None = None,
        delivery: str | None = None,
    ) -> None:
        changes: dict[str, Any] = {
            "last_seen_at": last_seen_at,
            "value": value,
            "resolved_at": resolved_at,
            "delivery": delivery[:250] if delivery is not None else None,
        }
        values = {k: v for k, v in changes.items() if v is not None}
        with self._write() as conn:
            if conn.execute(select(_AL.id).where(_AL.id == alert_id)).first() is None:
                raise NotFoundError(f"no alert {alert_id}")
            if values:
                conn.execute(update(monitor_alerts).where(_AL.id == alert_id).values(**values))

    def alerts(self, monitor: str | None = None, limit: int | None = None, *, offset: int = 0) -> list[Alert]:
        query = select(monitor_alerts)
        if monitor is not None:
            query = query.where(_AL.monitor == monitor)
        query = _page(query.order_by(_AL.id.desc()), limit, offset)
        with self._read() as conn:
            return [_alert(r) for r in conn.execute(query)]

    def open_alert_counts(self, limit: int = OPEN_ALERT_MONITORS) -> dict[str, int]:
        check_page(limit, 0)
        count = func.count().label("n")
        query = (
            select(_AL.monitor, count)
            .where(_AL.resolved_at.is_(None))
            .group_by(_AL.monitor)
            .order_by(count.desc(), _AL.monitor)
            .limit(limit)
        )
        with self._read() as conn:
            return {str(monitor): int(n) for monitor, n in conn.execute(query)}


def _page(query: Select[Any], limit: int | None, offset: int) -> Select[Any]:
    """``query`` (already in a total order) cut to one page; all of it when ``limit`` is None."""
    check_page(limit, offset)
    return query.limit(limit).offset(offset) if limit is not None or offset else query


def _alert(row: Any) -> Alert:
    return Alert(
        int(row.id),
        row.monitor,
        row.key,
        row.opened_at,
        row.last_seen_at,
        row.resolved_at,
        row.value,
        row.message,
        row.delivery,
    )
