"""``RestMonitoringRecords``: :class:`MonitoringRecords` over a shipyard server (shares the
metadata store's HTTP session; routes in ``shipyard/server/routers/monitoring.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shipyard.metadata.base import check_page
from shipyard.metadata.monitoring import (
    OPEN_ALERT_MONITORS,
    Alert,
    MonitoringRecords,
    ProfileEntry,
    ResultRow,
)
from shipyard.metadata.rest.codec import decode, json_value_in
from shipyard.metadata.rest.http import RestSession, seg
from shipyard.metadata.rest.paging import follow_pages


def _profile(model: str, version: int) -> str:
    return f"/monitoring/profiles/{seg(model)}/{int(version)}"


class RestMonitoringRecords(MonitoringRecords):
    def __init__(self, session: RestSession) -> None:
        self._http = session

    # ---- reference profiles ------------------------------------------------------------------------
    def put_profile(self, model: str, version: int, digest: str, rows: int, at: datetime) -> None:
        self._http.call("PUT", _profile(model, version), {"digest": digest, "rows": rows, "at": at})

    def get_profile(self, model: str, version: int) -> ProfileEntry | None:
        data = self._http.call("GET", _profile(model, version))["profile"]
        return None if data is None else decode(ProfileEntry, data)

    def set_importance(self, model: str, version: int, importance: Mapping[str, Any]) -> None:
        self._http.call("PUT", _profile(model, version) + "/importance", {"importance": dict(importance)})

    # ---- monitors ----------------------------------------------------------------------------------
    def put_monitor(self, name: str, deployment: str, spec: Mapping[str, Any], at: datetime) -> None:
        body = {"deployment": deployment, "spec": dict(spec), "at": at}
        self._http.call("PUT", f"/monitoring/monitors/{seg(name)}", body)

    def get_monitor(self, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = json_value_in(
            self._http.call("GET", f"/monitoring/monitors/{seg(name)}")["spec"]
        )
        return spec

    def list_monitors(self, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        rows = follow_pages(self._http, "/monitoring/monitors", "monitors", {}, limit=limit, offset=offset)
        return [json_value_in(s) for s in rows]

    # ---- results -----------------------------------------------------------------------------------
    def add_results(self, rows: Sequence[ResultRow]) -> None:
        if rows:
            self._http.call("POST", "/monitoring/results", {"rows": list(rows)})

    def results(
        self, monitor: str, since: datetime | None = None, limit: int | None = None, *, offset: int = 0
    ) -> list[ResultRow]:
        params: dict[str, Any] = {"monitor": monitor}
        if since is not None:
            params["since"] = since.isoformat()
        rows = follow_pages(self._http, "/monitoring/results", "results", params, limit=limit, offset=offset)
        return [decode(ResultRow, r) for r in rows]

    # ---- alerts ------------------------------------------------------------------------------------
    def open_alert(self, monitor: str, key: str) -> Alert | None:
        data = self._http.call("GET", "/monitoring/open-alert", params={"monitor": monitor, "key": key})
        return None if data["alert"] is None else decode(Alert, data["alert"])

    def create_alert(self, monitor: str, key: str, at: datetime, value: float | None, message: str) -> Alert:
        body = {"monitor": monitor, "key": key, "at": at, "value": value, "message": message}
        return decode(Alert, self._http.call("POST", "/monitoring/alerts", body))

    def update_alert(
        self,
        alert_id: int,
        *,
        last_seen_at: datetime | None = None,
        value: float | None = None,
        resolved_at: datetime | None = None,
        delivery: str | None = None,
    ) -> None:
        body = {
            "last_seen_at": last_seen_at,
            "value": value,
            "resolved_at": resolved_at,
            "delivery": delivery,
        }
        self._http.call("PATCH", f"/monitoring/alerts/{int(alert_id)}", body)

    def alerts(self, monitor: str | None = None, limit: int | None = None, *, offset: int = 0) -> list[Alert]:
        params = {"monitor": monitor} if monitor is not None else {}
        rows = follow_pages(self._http, "/monitoring/alerts", "alerts", params, limit=limit, offset=offset)
        # newest first: an alert opened while the pages are followed pushes the rest one row on,
        # so the next page may start with a row already taken; keep each alert once
        alerts: dict[int, Alert] = {}
        for row in rows:
            alert = decode(Alert, row)
            alerts.setdefault(alert.id, alert)
        return list(alerts.values())

    def open_alert_counts(self, limit: int = OPEN_ALERT_MONITORS) -> dict[str, int]:
        check_page(limit, 0)
        if limit == 0:
            return {}
        data = self._http.call("GET", "/monitoring/open-alert-counts", params={"limit": limit})
        return {str(k): int(v) for k, v in dict(data["counts"]).items()}
