"""The monitoring-records interface: reference-profile index, monitors, results, alerts.

Monitoring (``shipyard.monitoring``) keeps its state beside the run metadata: which artifact blob
holds a model version's reference profile (and its feature importance), the declared monitors,
their results as a time series, and alerts. :func:`open_monitoring_records` picks the
implementation that lives beside a metadata store: SQL tables in the same database
(``metadata/sql/monitoring_store.py``) or a shipyard server's API (``metadata/rest/monitoring.py``).
One contract suite (``tests/contract/test_monitoring_contract.py``) runs over every backend.

Rules: an alert is *open* while ``resolved_at`` is None; ``results`` come back in time order;
``get_monitor`` of an unknown name raises NotFoundError naming the known ones. The lists (monitors,
results, alerts) take ``limit``/``offset``: one page of a list in a total order (so consecutive pages
never skip or repeat a row); ``limit=None`` is all of it; a negative one is InvalidInputError.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.metadata.base import MetadataStore


OPEN_ALERT_MONITORS = 100  # monitors reported by open_alert_counts unless a caller asks otherwise


@dataclass(frozen=True)
class ProfileEntry:
    model: str
    version: int
    digest: str  # the profile's JSON in the artifact store
    rows: int
    created_at: datetime
    importance: dict[str, Any] | None = None


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


class MonitoringRecords(abc.ABC):
    # ---- reference profiles ------------------------------------------------------------------------
    @abc.abstractmethod
    def put_profile(self, model: str, version: int, digest: str, rows: int, at: datetime) -> None:
        """Point the version at a stored profile (replacing one before; importance is kept)."""

    @abc.abstractmethod
    def get_profile(self, model: str, version: int) -> ProfileEntry | None: ...

    @abc.abstractmethod
    def set_importance(self, model: str, version: int, importance: Mapping[str, Any]) -> None:
        """NotFoundError when the version has no profile to attach it to."""

    # ---- monitors ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def put_monitor(self, name: str, deployment: str, spec: Mapping[str, Any], at: datetime) -> None:
        """Create or replace a monitor's spec. Callers store specs checked by
        ``shipyard.monitoring.monitors.checked_monitor`` (``MonitoringStore`` does; the server's
        route refuses any other with InvalidInputError), and runners check them again."""

    @abc.abstractmethod
    def get_monitor(self, name: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    def list_monitors(self, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Every monitor's spec, by name (``limit``/``offset``: one page of that list)."""

    # ---- results -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def add_results(self, rows: Sequence[ResultRow]) -> None: ...

    @abc.abstractmethod
    def results(
        self, monitor: str, since: datetime | None = None, limit: int | None = None, *, offset: int = 0
    ) -> list[ResultRow]:
        """A monitor's results from ``since`` on, oldest first (by time, then in the order they were
        added), ``limit`` of them from ``offset`` on."""

    # ---- alerts ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def open_alert(self, monitor: str, key: str) -> Alert | None:
        """The newest unresolved alert of ``monitor`` for ``key``, if any."""

    @abc.abstractmethod
    def create_alert(self, monitor: str, key: str, at: datetime, value: float | None, message: str) -> Alert:
        """A new open alert, delivery ``pending``."""

    @abc.abstractmethod
    def update_alert(
        self,
        alert_id: int,
        *,
        last_seen_at: datetime | None = None,
        value: float | None = None,
        resolved_at: datetime | None = None,
        delivery: str | None = None,
    ) -> None:
        """Change the given fields (None leaves a field as it is); NotFoundError for an unknown id."""

    @abc.abstractmethod
    def alerts(self, monitor: str | None = None, limit: int | None = None, *, offset: int = 0) -> list[Alert]:
        """Alerts (of ``monitor`` when given), newest first (by id), ``limit`` of them from ``offset`` on."""

    @abc.abstractmethod
    def open_alert_counts(self, limit: int = OPEN_ALERT_MONITORS) -> dict[str, int]:
        """Open alerts per monitor (monitors with none are absent), one aggregate query: the
        ``limit`` monitors with the most (ties by name)."""


def open_monitoring_records(metadata: MetadataStore) -> MonitoringRecords:
    """The monitoring records that live beside ``metadata`` (same database, or the same server)."""
    from shipyard.metadata.registry import companion_store

    records: MonitoringRecords = companion_store(
        metadata,
        "monitoring",
        sql="shipyard.metadata.sql.monitoring_store:SqlMonitoringRecords",
        rest="shipyard.metadata.rest.monitoring:RestMonitoringRecords",
    )
    return records
