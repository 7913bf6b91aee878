"""``RestMetadataStore``: the :class:`MetadataStore` over a shipyard server's REST API.

``SHIPYARD_URI=http://host:8080`` (and ``SHIPYARD_TOKEN``) make the SDK, the CLI and flows use it
unchanged. Each method is one HTTP request on a kept-alive connection pool; metric batches travel
as compact ``[key, value, step, timestamp]`` rows. Errors come back as the same
:class:`~shipyard.core.errors.ShipyardError` subclasses the SQL store raises.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from shipyard.core.entities import (
    ArtifactRecord,
    LineageEdge,
    Metric,
    Run,
    RunCreate,
    RunStatus,
    Task,
    TaskAttempt,
    TaskStatus,
)
from shipyard.core.errors import ConfigurationError, InvalidInputError
from shipyard.metadata.base import (
    LIST_PAGE_MAX,
    METRIC_PAGE_DEFAULT,
    METRIC_PAGE_MAX,
    MetadataStore,
    MetricPage,
    RunPage,
    StatusSummary,
    check_page,
)
from shipyard.metadata.rest.codec import decode, float_in, float_out, to_wire
from shipyard.metadata.rest.http import RestSession, seg


def _check_params(params: dict[str, Any]) -> None:
    for key, value in params.items():
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"param {key!r}: value of type {type(value).__name__} is not JSON-serializable ({exc})"
            ) from None


def metric_rows(metrics: Sequence[Metric]) -> list[tuple[str, Any, int, int]]:
    rows: list[tuple[str, Any, int, int]] = []
    append = rows.append
    for m in metrics:
        value: Any = m.value
        if type(value) is not float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInputError(f"metric {m.key!r}: value {value!r} is not a number")
            value = float(value)
        if value - value != 0:  # NaN or +/-inf: JSON cannot carry them
            value = float_out(value)
        append((m.key, value, m.step, m.timestamp))
    return rows


class RestMetadataStore(MetadataStore):
    def __init__(self, uri: str, token: str | None = None, *, branch: str | None = None) -> None:
        if token is None:
            from shipyard.core.settings import load_settings

            token = load_settings().token
        self._http = RestSession(uri, token, branch=branch)
        self.url = self._http.base_url

    def __repr__(self) -> str:
        return f"RestMetadataStore({self.url!r})"

    @property
    def session(self) -> RestSession:
        return self._http

    def close(self) -> None:
        self._http.close()

    # ---- runs ------------------------------------------------------------------------------------
    def create_run(self, run: RunCreate) -> Run:
        _check_params(run.params)
        return decode(Run, self._http.call("POST", "/runs", run))

    def get_run(self, run_id: str) -> Run:
        return decode(Run, self._http.call("GET", f"/runs/{seg(run_id)}"))

    def find_run_ids(self, prefix: str, limit: int = 2) -> list[str]:
        return list(self._http.call("GET", "/run-ids", params={"prefix": prefix, "limit": limit})["ids"])

    def finish_run(self, run_id: str, status: RunStatus, end_time: datetime, error: str | None = None) -> Run:
        body = {"status": status, "end_time": end_time, "error": error}
        return decode(Run, self._http.call("POST", f"/runs/{seg(run_id)}/finish", body))

    def heartbeat_run(self, run_id: str) -> None:
        self._http.call("POST", f"/runs/{seg(run_id)}/heartbeat", {})  # the server's store stamps it

    def fail_stale_runs(self, timeout_s: float) -> list[str]:
        if self._http.branch is not None:  # a server-wide sweep: a branch writes only its own objects
            return []
        return list(self._http.call("POST", "/runs-fail-stale", {"timeout_s": timeout_s})["ids"])

    @staticmethod
    def _query(
        namespaces: Sequence[str] | None,
        filter: str | None,
        flow_name: str | None,
        statuses: Sequence[RunStatus] | None,
        hidden_projects: Sequence[str] = (),
    ) -> list[tuple[str, Any]]:
        if isinstance(namespaces, str):
            raise InvalidInputError(f"namespaces must be a list of strings, e.g. [{namespaces!r}]")
        params: list[tuple[str, Any]] = [("namespace", ns) for ns in namespaces or ()]
        if namespaces is not None and not namespaces:
            params.append(("namespace", ""))  # an empty list matches nothing, unlike "every namespace"
        if filter is not None:
            params.append(("filter", filter))
        if flow_name is not None:
            params.append(("flow_name", flow_name))
        params.extend(("status", RunStatus(s).value) for s in statuses or ())
        params.extend(("hidden_project", p) for p in hidden_projects)
        return params

    def search_runs(  # noqa: PLR0917
        self,
        namespaces: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 100,
        offset: int = 0,
        flow_name: str | None = None,
        statuses: Sequence[RunStatus] | None = None,
        *,
        hidden_projects: Sequence[str] = (),
    ) -> RunPage:
        params = self._query(namespaces, filter, flow_name, statuses, hidden_projects)
        params.extend(("order_by", o) for o in order_by)
        params += [("max_results", max_results), ("offset", offset)]
        data = self._http.call("GET", "/runs", params=params)
        runs = [decode(Run, r) for r in data["runs"]]
        return RunPage(runs=runs, next_offset=data["next_offset"], total=data.get("total"))

    def count_runs(
        self,
        namespaces: Sequence[str] | None = None,
        filter: str | None = None,
        flow_name: str | None = None,
        statuses: Sequence[RunStatus] | None = None,
        *,
        hidden_projects: Sequence[str] = (),
    ) -> int:
        params = self._query(namespaces, filter, flow_name, statuses, hidden_projects)
        return int(self._http.call("GET", "/runs-count", params=params)["count"])

    def status_summary(self, *, hidden_projects: Sequence[str] = ()) -> StatusSummary:
        params = [("hidden_project", p) for p in hidden_projects]
        return decode(StatusSummary, self._http.call("GET", "/status-summary", params=params))

    def delete_run(self, run_id: str) -> None:
        self._http.call("DELETE", f"/runs/{seg(run_id)}")

    def referenced_digests(self) -> set[str]:
        raise ConfigurationError(
            f"blob garbage collection runs where the stores are, not through the server at {self.url}: "
            "run it on the server's host with SHIPYARD_URI set to the server's database and "
            "SHIPYARD_ARTIFACTS to its artifact store"
        )

    # ---- params, metrics, tags ---------------------------------------------------------------------
    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        _check_params(params)
        self._http.call("POST", f"/runs/{seg(run_id)}/params", {"params": params})

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        body = orjson.dumps({"metrics": metric_rows(metrics)})
        self._http.send("POST", f"/runs/{seg(run_id)}/metrics", body)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every page, in the order logged, then sorted by step and timestamp (a stable sort keeps
        ties in the order logged, as the SQL stores do)."""
        points: list[Metric] = []
        token: str | None = None
        while True:
            page = self.get_metric_history_page(run_id, key, limit=METRIC_PAGE_MAX, page_token=token)
            points.extend(page.metrics)
            token = page.next_page_token
            if token is None:
                return sorted(points, key=lambda m: (m.step, m.timestamp))

    def get_metric_history_page(
        self, run_id: str, key: str, *, limit: int = METRIC_PAGE_DEFAULT, page_token: str | None = None
    ) -> MetricPage:
        params: dict[str, Any] = {"key": key, "limit": limit}
        if page_token is not None:
            params["page_token"] = page_token
        data = self._http.call("GET", f"/runs/{seg(run_id)}/metric-history", params=params)
        metrics = [Metric(k, float_in(v), s, t) for k, v, s, t in data["metrics"]]
        return MetricPage(metrics, data.get("next_page_token"))

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._http.call("POST", f"/runs/{seg(run_id)}/tags", {"tags": tags})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._http.call("DELETE", f"/runs/{seg(run_id)}/tags", params={"key": key})

    # ---- artifacts ---------------------------------------------------------------------------------
    def record_artifact(self, artifact: ArtifactRecord) -> ArtifactRecord:
        return decode(ArtifactRecord, self._http.call("POST", "/artifacts", artifact))

    def _pages(
        self, path: str, field: str, params: dict[str, Any], limit: int | None, offset: int
    ) -> list[Any]:
        """The rows of a paged list route: one page when ``limit`` is given, else every page."""
        check_page(limit, offset)
        rows: list[Any] = []
        while True:
            want = LIST_PAGE_MAX if limit is None else min(LIST_PAGE_MAX, limit - len(rows))
            if want <= 0:
                return rows
            data = self._http.call("GET", path, params={**params, "limit": want, "offset": offset})
            rows.extend(data[field])
            if data.get("next_offset") is None:
                return rows
            offset = int(data["next_offset"])

    def list_artifacts(
        self, run_id: str, task_id: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[ArtifactRecord]:
        params = {"task_id": task_id} if task_id is not None else {}
        rows = self._pages(f"/runs/{seg(run_id)}/artifacts", "artifacts", params, limit, offset)
        return [decode(ArtifactRecord, a) for a in rows]

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        return decode(ArtifactRecord, self._http.call("GET", f"/artifacts/{seg(artifact_id)}"))

    def find_artifact(self, run_id: str, name: str, task_id: str | None = None) -> ArtifactRecord:
        params = {"name": name} | ({"task_id": task_id} if task_id is not None else {})
        return decode(ArtifactRecord, self._http.call("GET", f"/runs/{seg(run_id)}/artifact", params=params))

    # ---- tasks and lineage -------------------------------------------------------------------------
    def create_tasks(self, tasks: Sequence[Task]) -> None:
        if tasks:
            self._http.call("POST", "/tasks", {"tasks": list(tasks)})

    def get_task(self, task_id: str) -> Task:
        return decode(Task, self._http.call("GET", f"/tasks/{seg(task_id)}"))

    def list_tasks(self, run_id: str, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        return [
            decode(Task, t) for t in self._pages(f"/runs/{seg(run_id)}/tasks", "tasks", {}, limit, offset)
        ]

    def update_task(
        self,
        task_id: str,
        *,
        status: TaskStatus | None = None,
        attempts: int | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        heartbeat_at: datetime | None = None,
        error: str | None = None,
        reused_from: str | None = None,
        node: str | None = None,
        cache_key: str | None = None,
    ) -> Task:
        fields = {
            "status": status,
            "attempts": attempts,
            "started_at": started_at,
            "ended_at": ended_at,
            "heartbeat_at": heartbeat_at,
            "error": error,
            "reused_from": reused_from,
            "node": node,
            "cache_key": cache_key,
        }
        body = {k: v for k, v in fields.items() if v is not None}
        return decode(Task, self._http.call("PATCH", f"/tasks/{seg(task_id)}", body))

    def list_task_attempts(self, task_id: str) -> list[TaskAttempt]:
        data = self._http.call("GET", f"/tasks/{seg(task_id)}/attempts")
        return [decode(TaskAttempt, a) for a in data["attempts"]]

    def record_lineage(self, edges: Sequence[LineageEdge]) -> None:
        if edges:
            self._http.call("POST", "/lineage", {"edges": [to_wire(e) for e in edges]})

    def task_inputs(self, task_id: str, *, limit: int | None = None, offset: int = 0) -> list[LineageEdge]:
        rows = self._pages(f"/tasks/{seg(task_id)}/inputs", "edges", {}, limit, offset)
        return [decode(LineageEdge, e) for e in rows]

    def artifact_consumers(
        self, artifact_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[LineageEdge]:
        rows = self._pages(f"/artifacts/{seg(artifact_id)}/consumers", "edges", {}, limit, offset)
        return [decode(LineageEdge, e) for e in rows]

    def find_cached_task(self, namespace: str, step: str, cache_key: str) -> Task | None:
        params = {"namespace": namespace, "step": step, "cache_key": cache_key}
        task = self._http.call("GET", "/cached-task", params=params)["task"]
        return None if task is None else decode(Task, task)
