"""Where monitoring keeps its state, as the monitoring code uses it: reference profiles (JSON in
the artifact store, indexed by model version), monitors, their results and alerts. The records go
through :class:`~shipyard.metadata.monitoring.MonitoringRecords`, so this works on SQL metadata and
through a shipyard server alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.core.clock import utcnow
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.metadata.monitoring import Alert, ResultRow, open_monitoring_records
from shipyard.monitoring.profile import Profile

if TYPE_CHECKING:
    from shipyard.tracking.stores import Stores

__all__ = ["PROFILE_ARTIFACT", "Alert", "MonitoringStore", "ResultRow"]

#: the run artifact a training step may log its profile under (found at registration or later)
PROFILE_ARTIFACT = "reference_profile"


class MonitoringStore:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.records = open_monitoring_records(stores.metadata)

    # ---- reference profiles ------------------------------------------------------------------------
    def save_profile(self, model: str, version: int, profile: Profile) -> str:
        digest = self.stores.artifacts.put_bytes(profile.to_json())
        self.records.put_profile(model, version, digest, profile.rows, utcnow())
        return digest

    def load_profile(self, model: str, version: int, run_id: str | None = None) -> Profile:
        """The version's profile; else the ``reference_profile`` artifact of its source run."""
        entry = self.records.get_profile(model, version)
        if entry is not None:
            return Profile.from_json(self._profile_bytes(entry.digest, f"profile of {model}/{version}"))
        if run_id:
            for record in self.stores.metadata.list_artifacts(run_id):
                if record.name == PROFILE_ARTIFACT and record.serializer == "json":
                    profile = Profile.from_json(self._profile_bytes(record.digest, PROFILE_ARTIFACT))
                    self.save_profile(model, version, profile)
                    return profile
        raise NotFoundError(
            f"model {model} version {version} has no reference profile; store one with "
            "shipyard.monitoring.log_reference(training_frame, ...) in the training run, or "
            f"`shipyard monitor profile models:/{model}/{version} DATA.parquet`"
        )

    def _profile_bytes(self, digest: str, label: str) -> bytes:
        """A stored profile's bytes, refused by size before they are read."""
        from shipyard.artifacts.cas import blob_key
        from shipyard.monitoring.profile import MAX_PROFILE_BYTES

        size = self.stores.artifacts.cas.blobs.size(blob_key(digest))
        if size > MAX_PROFILE_BYTES:
            raise InvalidInputError(
                f"{label} is {size} bytes, over the limit of {MAX_PROFILE_BYTES}; store a smaller profile"
            )
        return self.stores.artifacts.get_bytes(digest, label)

    def set_importance(self, model: str, version: int, importance: Mapping[str, Any]) -> None:
        self.records.set_importance(model, version, importance)

    def get_importance(self, model: str, version: int) -> dict[str, Any] | None:
        entry = self.records.get_profile(model, version)
        return entry.importance if entry is not None else None

    # ---- monitors, results, alerts -----------------------------------------------------------------
    def put_monitor(self, name: str, deployment: str, spec: Mapping[str, Any]) -> None:
        """Store a monitor's spec, checked by :func:`shipyard.monitoring.monitors.checked_monitor`."""
        from shipyard.monitoring.monitors import checked_monitor

        self.records.put_monitor(name, deployment, checked_monitor(name, deployment, spec), utcnow())

    def get_monitor(self, name: str) -> dict[str, Any]:
        return self.records.get_monitor(name)

    def list_monitors(self) -> list[dict[str, Any]]:
        return self.records.list_monitors()

    def add_results(self, rows: Sequence[ResultRow]) -> None:
        self.records.add_results(rows)

    def results(self, monitor: str, since: datetime | None = None, limit: int = 10_000) -> list[ResultRow]:
        return self.records.results(monitor, since, limit)

    def open_alert(self, monitor: str, key: str) -> Alert | None:
        return self.records.open_alert(monitor, key)

    def create_alert(self, monitor: str, key: str, at: datetime, value: float | None, message: str) -> Alert:
        return self.records.create_alert(monitor, key, at, value, message)

    def touch_alert(self, alert_id: int, at: datetime, value: float | None) -> None:
        self.records.update_alert(alert_id, last_seen_at=at, value=value)

    def resolve_alert(self, alert_id: int, at: datetime) -> None:
        self.records.update_alert(alert_id, resolved_at=at)

    def set_delivery(self, alert_id: int, delivery: str) -> None:
        self.records.update_alert(alert_id, delivery=delivery)

    def alerts(self, monitor: str | None = None, limit: int = 200) -> list[Alert]:
        return self.records.alerts(monitor, limit)
