"""Where monitoring keeps its state: reference profiles (JSON in the artifact store, indexed by
model version in ``reference_profiles``), monitors, their results and alerts (SQL tables of
:mod:`shipyard.metadata.sql.monitoring_schema`). It borrows the SQL metadata store's transactions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.core.clock import utcnow
from shipyard.core.errors import ConfigurationError, NotFoundError
from shipyard.monitoring.profile import Profile

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from shipyard.metadata.sql.store import SqlMetadataStore
    from shipyard.tracking.stores import Stores

#: the run artifact a training step may log its profile under (found at registration or later)
PROFILE_ARTIFACT = "reference_profile"


@dataclass(frozen=True)
class ResultRow:
    monitor: str
    at: datetime
    check: str
    subject: str
    value: float | None
    threshold: float | None
    breached: bool
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class Alert:
    id: int
    monitor: str
    key: str
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    value: float | None
    message: str
    delivery: str


class MonitoringStore:
    def __init__(self, stores: Stores) -> None:
        from shipyard.metadata.sql.store import SqlMetadataStore

        if not isinstance(stores.metadata, SqlMetadataStore):
            raise ConfigurationError(
                "monitoring keeps its results in the SQL metadata database; point SHIPYARD_URI at "
                "sqlite:/// or postgresql:// (run `shipyard monitor` where the database is)"
            )
        self.stores = stores
        self._sql: SqlMetadataStore = stores.metadata

    def _read(self) -> contextlib.AbstractContextManager[Connection]:
        return self._sql._tx(write=False)

    def _write(self) -> contextlib.AbstractContextManager[Connection]:
        return self._sql._tx(write=True)

    # ---- reference profiles ------------------------------------------------------------------------
    def save_profile(self, model: str, version: int, profile: Profile) -> str:
        from sqlalchemy import delete, insert

        from shipyard.metadata.sql.monitoring_schema import reference_profiles as t

        digest = self.stores.artifacts.put_bytes(profile.to_json())
        with self._write() as conn:
            old = self._profile_row(conn, model, version)
            conn.execute(delete(t).where(t.c.model_name == model, t.c.version == version))
            conn.execute(
                insert(t).values(
                    model_name=model,
                    version=version,
                    digest=digest,
                    rows=profile.rows,
                    created_at=utcnow(),
                    importance=old.importance if old else None,
                )
            )
        return digest

    @staticmethod
    def _profile_row(conn: Connection, model: str, version: int) -> Any:
        from sqlalchemy import select

        from shipyard.metadata.sql.monitoring_schema import reference_profiles as t

        return conn.execute(select(t).where(t.c.model_name == model, t.c.version == version)).first()

    def load_profile(self, model: str, version: int, run_id: str | None = None) -> Profile:
        """The version's profile; else the ``reference_profile`` artifact of its source run."""
        with self._read() as conn:
            row = self._profile_row(conn, model, version)
        if row is not None:
            return Profile.from_json(
                self.stores.artifacts.get_bytes(row.digest, f"profile of {model}/{version}")
            )
        if run_id:
            for record in self.stores.metadata.list_artifacts(run_id):
                if record.name == PROFILE_ARTIFACT and record.serializer == "json":
                    value = self.stores.artifacts.get_bytes(record.digest, PROFILE_ARTIFACT)
                    profile = Profile.from_json(value)
                    self.save_profile(model, version, profile)
                    return profile
        raise NotFoundError(
            f"model {model} version {version} has no reference profile; store one with "
            "shipyard.monitoring.log_reference(training_frame, ...) in the training run, or "
            f"`shipyard monitor profile models:/{model}/{version} DATA.parquet`"
        )

    def set_importance(self, model: str, version: int, importance: Mapping[str, Any]) -> None:
        from sqlalchemy import update

        from shipyard.metadata.sql.monitoring_schema import reference_profiles as t

        with self._write() as conn:
            if self._profile_row(conn, model, version) is None:
                raise NotFoundError(f"model {model} version {version} has no reference profile to attach to")
            conn.execute(
                update(t)
                .where(t.c.model_name == model, t.c.version == version)
                .values(importance=dict(importance))
            )

    def get_importance(self, model: str, version: int) -> dict[str, Any] | None:
        with self._read() as conn:
            row = self._profile_row(conn, model, version)
        return dict(row.importance) if row is not None and row.importance else None

    # ---- monitors ------------------------------------------------------------------------------------
    def put_monitor(self, name: str, deployment: str, spec: Mapping[str, Any]) -> None:
        from sqlalchemy import insert, select, update

        from shipyard.metadata.sql.monitoring_schema import monitors as t

        now = utcnow()
        with self._write() as conn:
            if conn.execute(select(t.c.name).where(t.c.name == name)).first() is None:
                conn.execute(
                    insert(t).values(
                        name=name, deployment=deployment, spec=dict(spec), created_at=now, updated_at=now
                    )
                )
            else:
                conn.execute(
                    update(t)
                    .where(t.c.name == name)
                    .values(deployment=deployment, spec=dict(spec), updated_at=now)
                )

    def get_monitor(self, name: str) -> dict[str, Any]:
        from sqlalchemy import select

        from shipyard.metadata.sql.monitoring_schema import monitors as t

        with self._read() as conn:
            row = conn.execute(select(t.c.spec).where(t.c.name == name)).first()
            known = [r.name for r in conn.execute(select(t.c.name).order_by(t.c.name))]
        if row is None:
            raise NotFoundError(
                f"no monitor {name!r}; known: {', '.join(known) or 'none (shipyard monitor create)'}"
            )
        return dict(row.spec)

    def list_monitors(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from shipyard.metadata.sql.monitoring_schema import monitors as t

        with self._read() as conn:
            return [dict(r.spec) for r in conn.execute(select(t.c.spec).order_by(t.c.name))]

    # ---- results ----------------------------------------------------------------------------------------
    def add_results(self, rows: Sequence[ResultRow]) -> None:
        from sqlalchemy import insert

        from shipyard.metadata.sql.monitoring_schema import monitor_results as t

        if not rows:
            return
        with self._write() as conn:
            conn.execute(insert(t), [r.__dict__ for r in rows])

    def results(self, monitor: str, since: datetime | None = None, limit: int = 10_000) -> list[ResultRow]:
        from sqlalchemy import select

        from shipyard.metadata.sql.monitoring_schema import monitor_results as t

        query = select(t).where(t.c.monitor == monitor)
        if since is not None:
            query = query.where(t.c.at >= since)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.c.at, t.c.id).limit(limit)).all()
        return [
            ResultRow(r.monitor, r.at, r.check, r.subject, r.value, r.threshold, bool(r.breached), r.detail)
            for r in rows
        ]

    # ---- alerts ------------------------------------------------------------------------------------------
    def open_alert(self, monitor: str, key: str) -> Alert | None:
        from sqlalchemy import select

        from shipyard.metadata.sql.monitoring_schema import monitor_alerts as t

        with self._read() as conn:
            row = conn.execute(
                select(t)
                .where(t.c.monitor == monitor, t.c.key == key, t.c.resolved_at.is_(None))
                .order_by(t.c.id.desc())
            ).first()
        return _alert(row) if row is not None else None

    def create_alert(self, monitor: str, key: str, at: datetime, value: float | None, message: str) -> Alert:
        from sqlalchemy import insert

        from shipyard.metadata.sql.monitoring_schema import monitor_alerts as t

        with self._write() as conn:
            result = conn.execute(
                insert(t).values(
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

    def touch_alert(self, alert_id: int, at: datetime, value: float | None) -> None:
        self._update_alert(alert_id, last_seen_at=at, value=value)

    def resolve_alert(self, alert_id: int, at: datetime) -> None:
        self._update_alert(alert_id, resolved_at=at)

    def set_delivery(self, alert_id: int, delivery: str) -> None:
        self._update_alert(alert_id, delivery=delivery[:250])

    def _update_alert(self, alert_id: int, **values: Any) -> None:
        from sqlalchemy import update

        from shipyard.metadata.sql.monitoring_schema import monitor_alerts as t

        with self._write() as conn:
            conn.execute(update(t).where(t.c.id == alert_id).values(**values))

    def alerts(self, monitor: str | None = None, limit: int = 200) -> list[Alert]:
        from sqlalchemy import select

        from shipyard.metadata.sql.monitoring_schema import monitor_alerts as t

        query = select(t)
        if monitor is not None:
            query = query.where(t.c.monitor == monitor)
        with self._read() as conn:
            return [_alert(r) for r in conn.execute(query.order_by(t.c.id.desc()).limit(limit))]


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
