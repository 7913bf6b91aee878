"""Run pages: the runs list, one run (params, charts, DAG, tasks, artifacts), a task's page (its
logs, error and, for a notebook step, the executed notebook: ``notebook_view.py``), compare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shipyard.artifacts.store import ArtifactStore
from shipyard.cards.load import find_task_card
from shipyard.core.entities import ArtifactRecord, Run, RunStatus
from shipyard.core.errors import InvalidInputError, NotFoundError, ShipyardError
from shipyard.metadata.base import MetadataStore
from shipyard.runtime.logs import log_records
from shipyard.server.access import check_run
from shipyard.server.deps import principal_of
from shipyard.server.ui import dag as dag_layout
from shipyard.server.ui.bars import bar_chart
from shipyard.server.ui.card_pages import LIVE_STATUSES
from shipyard.server.ui.charts import CHART_READ_POINTS, chart_data, chart_history
from shipyard.server.ui.common import ROOT, guarded, page_context, server_context
from shipyard.server.ui.notebook_view import load_notebook_view
from shipyard.server.ui.parallel import parallel_coords
from shipyard.server.ui.queries import ORDERS, RunsQuery, load_runs_page
from shipyard.server.ui.templating import Pages, format_number, format_value

MAX_CHARTS = 24
MAX_COMPARE = 10
LOG_TAIL_BYTES = 256 << 10
LOG_NAMES = ("logs/stdout", "logs/stderr")
NOTEBOOK = "notebook"  # a notebook step's executed notebook (runtime/notebook.py)


def _attempt_param(request: Request) -> int | None:
    """``?attempt=N``: show that attempt's logs (a retried task keeps each attempt's)."""
    raw = request.query_params.get("attempt")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 0 < int(raw) < 1_000_000:
        raise InvalidInputError(f"attempt must be a whole number from 1, got {raw[:20]!r}")
    return int(raw)


def _chart(metadata: MetadataStore, key: str, series: dict[str, str]) -> dict[str, Any]:
    """One chart of ``key`` for ``{label: run id}``, read within CHART_READ_POINTS in all."""
    budget = max(1, CHART_READ_POINTS // max(1, len(series)))
    histories, complete = {}, True
    for label, run_id in series.items():
        histories[label], whole = chart_history(metadata, run_id, key, budget)
        complete = complete and whole
    return chart_data(key if complete else f"{key} (the first {budget:,} points per run)", histories)


def log_tail(artifacts: ArtifactStore, record: ArtifactRecord, label: str) -> tuple[bytes, int]:
    """The last LOG_TAIL_BYTES of a stored log and its size: read through once, verified, holding
    only the tail (a log of any size costs the same memory)."""
    tail = bytearray()
    with artifacts.cas.open_verified(record.digest, label) as reader:
        while chunk := reader.read(1 << 20):
            tail += chunk
            del tail[: max(0, len(tail) - LOG_TAIL_BYTES)]
        reader.verify()
    return bytes(tail), reader.position


@dataclass(frozen=True)
class DiffRow:
    key: str
    cells: list[str]
    differs: bool


@dataclass(frozen=True)
class LogStream:
    name: str
    text: str
    size: int
    shown: int

    @property
    def truncated(self) -> bool:
        return self.shown < self.size


def _text(value: Any) -> str:
    if value is None:
        return "—"
    return format_number(value) if isinstance(value, float) else format_value(value)


def diff_rows(keys: list[str], values: list[dict[str, Any]], only_diff: bool = False) -> list[DiffRow]:
    """One row per key with each run's value as text; ``differs`` when they are not all equal
    (a run without the key counts as a different value)."""
    rows = []
    for key in keys:
        cells = [_text(v.get(key)) if key in v else "—" for v in values]
        differs = len(set(cells)) > 1
        if differs or not only_diff:
            rows.append(DiffRow(key, cells, differs))
    return rows


def _labels(runs: list[Run]) -> list[str]:
    names = [r.name for r in runs]
    return [f"{r.name} ({r.id[:8]})" if names.count(r.name) > 1 else r.name for r in runs]


def _chosen_metric(request: Request, runs: list[Run], metric_keys: list[str]) -> str | None:
    """``?metric=KEY`` (one of the runs' metrics), else the first metric every run has."""
    asked = request.query_params.get("metric")
    if asked:
        if asked not in metric_keys:
            raise InvalidInputError(
                f"metric {asked[:100]!r} is not a metric of these runs; choose one of "
                f"{', '.join(metric_keys[:20]) or '(none logged)'}"
            )
        return asked
    shared = [k for k in metric_keys if all(k in r.metrics for r in runs)]
    candidates = shared or metric_keys
    return candidates[0] if candidates else None


def _expand_short_id(metadata: MetadataStore, prefix: str) -> str | None:
    """The one run id starting with ``prefix`` (people paste the 12-character short ids)."""
    if not 6 <= len(prefix) < 32 or not prefix.isalnum():
        return None
    found = metadata.find_run_ids(prefix, limit=2)
    return found[0] if len(found) == 1 else None


def add_run_routes(router: APIRouter, pages: Pages) -> None:
    @router.get(f"{ROOT}/runs")
    def runs_list(request: Request) -> Response:
        ctx = server_context(request)
        common = page_context(request, "runs", statuses=[s.value for s in RunStatus], orders=list(ORDERS))
        try:
            query = RunsQuery.from_params(request.query_params)
        except InvalidInputError as exc:
            return pages.render("runs.html", 400, q=RunsQuery(), page=None, error=exc.message, **common)
        try:
            page = load_runs_page(ctx.stores.metadata, query, principal_of(request).access.hidden_projects())
        except InvalidInputError as exc:
            return pages.render("runs.html", 400, q=query, page=None, error=exc.message, **common)
        return pages.render("runs.html", q=query, page=page, error=None, **common)

    @router.get(f"{ROOT}/runs/{{run_id}}")
    def run_page(request: Request, run_id: str) -> Response:
        def build() -> Response:
            ctx = server_context(request)
            metadata = ctx.stores.metadata
            try:
                run = metadata.get_run(run_id)
            except NotFoundError:
                full = _expand_short_id(metadata, run_id)
                if full is None:
                    raise
                return RedirectResponse(f"{ROOT}/runs/{full}", status_code=303)
            charts, scalars = [], []
            for key in sorted(run.metrics)[:MAX_CHARTS]:
                built = _chart(metadata, key, {key: run.id})
                if built["scalar"]:
                    scalars.append((key, run.metrics[key]))
                else:
                    charts.append(built)
            tasks = metadata.list_tasks(run.id)
            artifacts = [a for a in metadata.list_artifacts(run.id) if a.name not in LOG_NAMES]
            try:
                versions = ctx.registry.versions_from_run(run.id)
            except ShipyardError:
                versions = []  # no registry for this metadata backend
            try:
                dataset_uses = ctx.datasets.run_uses(run.id)
            except ShipyardError:
                dataset_uses = []
            return pages.render(
                "run.html",
                **page_context(
                    request,
                    "runs",
                    run=run,
                    params=sorted(run.params.items()),
                    tags=sorted(run.tags.items()),
                    metrics=sorted(run.metrics.items()),
                    charts=charts,
                    scalars=scalars,
                    dag=dag_layout.layout_dag(run.flow_spec, tasks),
                    box_w=dag_layout.BOX_W,
                    box_h=dag_layout.BOX_H,
                    tasks=tasks,
                    task_keys={t.id: t.key for t in tasks},
                    artifacts=artifacts,
                    versions=versions,
                    dataset_uses=dataset_uses,
                ),
            )

        return guarded(pages, request, "runs", build)

    @router.get(f"{ROOT}/runs/{{run_id}}/tasks/{{task_id}}/logs")
    def task_logs(request: Request, run_id: str, task_id: str) -> Response:
        def build() -> Response:
            metadata = server_context(request).stores.metadata
            artifacts = server_context(request).stores.artifacts
            run = metadata.get_run(run_id)
            task = metadata.get_task(task_id)
            if task.run_id != run.id:
                raise NotFoundError(f"run {run.id} has no task {task_id}")
            shown, records = log_records(metadata, task, _attempt_param(request), (*LOG_NAMES, NOTEBOOK))
            attempts = metadata.list_task_attempts(task.id) if task.attempts > 1 else []
            error = next((a.error for a in attempts if a.attempt == shown), task.error)
            streams = []
            for name in LOG_NAMES:
                record = records.get(name)
                if record is None:
                    streams.append(LogStream(name.split("/")[1], "", 0, 0))
                    continue
                tail, size = log_tail(artifacts, record, f"{task.key} {name}")
                text = tail.decode("utf-8", errors="replace")
                streams.append(LogStream(name.split("/")[1], text, size, len(tail)))
            notebook = records.get(NOTEBOOK)
            card = find_task_card(metadata, run, task)
            return pages.render_framing(
                "logs.html",
                **page_context(
                    request,
                    "runs",
                    run=run,
                    task=task,
                    streams=streams,
                    attempts=attempts,
                    shown=shown,
                    error=error,
                    notebook=load_notebook_view(artifacts, notebook) if notebook is not None else None,
                    card_version=card.version,
                    card_live=task.status in LIVE_STATUSES,
                ),
            )

        return guarded(pages, request, "runs", build)

    @router.get(f"{ROOT}/compare")
    def compare(request: Request) -> Response:
        def build() -> Response:
            metadata = server_context(request).stores.metadata
            ids = list(dict.fromkeys(request.query_params.getlist("run")))
            if not 2 <= len(ids) <= MAX_COMPARE:
                raise InvalidInputError(
                    f"select between 2 and {MAX_COMPARE} runs to compare (got {len(ids)}); "
                    "tick their boxes on the runs list"
                )
            access = principal_of(request).access
            for run_id in ids:  # a private project's run is not found, as on its own page
                check_run(server_context(request), access, "run:read", run_id)
            runs = [metadata.get_run(i) for i in ids]
            only_diff = request.query_params.get("diff") == "1"
            param_keys = sorted({k for r in runs for k in r.params})
            metric_keys = sorted({k for r in runs for k in r.metrics})
            labels = _labels(runs)
            metric = _chosen_metric(request, runs, metric_keys)
            parallel = None
            if metric is not None:
                values = [r.metrics.get(metric) for r in runs]
                parallel = parallel_coords(labels, [r.params for r in runs], metric, values, only_diff)
            charts, bars = [], []
            for key in metric_keys[:MAX_CHARTS]:
                having = {label: r.id for label, r in zip(labels, runs, strict=True) if key in r.metrics}
                built = _chart(metadata, key, having)
                if built["scalar"]:  # one value per run: a bar per run, every run in its colour
                    bars.append(
                        bar_chart(key, [(lb, r.metrics.get(key)) for lb, r in zip(labels, runs, strict=True)])
                    )
                else:
                    charts.append(built)
            return pages.render(
                "compare.html",
                **page_context(
                    request,
                    "runs",
                    runs=runs,
                    only_diff=only_diff,
                    compare_url=f"{ROOT}/compare?" + urlencode([("run", i) for i in ids]),
                    param_rows=diff_rows(param_keys, [r.params for r in runs], only_diff),
                    metric_rows=diff_rows(metric_keys, [dict(r.metrics) for r in runs]),
                    charts=charts,
                    bars=bars,
                    parallel=parallel,
                    metric_keys=metric_keys,
                    run_ids=ids,
                ),
            )

        return guarded(pages, request, "runs", build)
