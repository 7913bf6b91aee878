"""Report a flow's trigger events to Airflow as asset events, so the exported DAG (scheduled on its
triggers' assets: :func:`shipyard.exporters.airflow.asset_uri`) runs: what ``shipyard schedule run
FLOW.py --notify-airflow URL`` uses instead of starting runs here (Airflow 3's REST API: the asset
is looked up by URI once, then ``POST /api/v2/assets/events``; a bearer token from
``AIRFLOW_TOKEN`` when the API needs one)."""

from __future__ import annotations

from collections.abc import Mapping

from shipyard.core.errors import FlowError
from shipyard.exporters.airflow import asset_uri
from shipyard.runtime.loader import LoadedFlow
from shipyard.runtime.schedule_loop import NOTIFIED, SOURCE_TAG, TRIGGER_TAG, StartedRun, StartRun


def airflow_notifier(url: str, token: str | None = None, timeout_s: float = 10.0) -> StartRun:
    import httpx

    if not url.startswith(("http://", "https://")):
        raise FlowError(f"--notify-airflow {url!r} is not an http(s) URL, e.g. http://airflow:8080")
    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ids: dict[str, int] = {}

    def call(method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            answer = httpx.request(method, base + path, headers=headers, timeout=timeout_s, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise FlowError(f"cannot reach Airflow at {base}: {type(exc).__name__}: {exc}") from None
        if not answer.is_success:
            raise FlowError(f"Airflow at {base} answered {answer.status_code} to {method} {path}")
        return answer

    def asset_id(uri: str) -> int:
        if uri not in ids:
            found = call("GET", "/api/v2/assets", params={"uri_pattern": uri, "limit": 100}).json()
            exact = [a["id"] for a in found.get("assets", []) if a.get("uri") == uri]
            if not exact:
                raise FlowError(
                    f"Airflow at {base} has no asset {uri}: deploy the DAG of `shipyard export airflow` "
                    "for this flow first (its triggers are its assets)"
                )
            ids[uri] = int(exact[0])
        return ids[uri]

    def notify(loaded: LoadedFlow, tags: Mapping[str, str]) -> StartedRun:
        source = tags.get(SOURCE_TAG, "")
        if source.startswith("cron:"):
            return StartedRun(run_id="", status=NOTIFIED)  # the DAG's own schedule covers cron
        extra = {"shipyard_flow": loaded.flow.name, "shipyard_event": tags.get(TRIGGER_TAG, "")}
        call("POST", "/api/v2/assets/events", json={"asset_id": asset_id(asset_uri(source)), "extra": extra})
        return StartedRun(run_id="", status=NOTIFIED)

    return notify
