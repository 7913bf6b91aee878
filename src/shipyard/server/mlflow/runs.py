"""MLflow runs: create, get, update, delete, restore, search; params, metrics, tags, inputs.

A run created here is a shipyard run in its experiment's namespace (``shipyard runs list`` shows
it), tagged ``shipyard.orchestrator=mlflow``: the MLflow client sends no heartbeats and owns the
run's liveness, so the stale-run reaper leaves it alone. Soft deletion (MLflow's delete/restore)
is kept beside the run; ``shipyard runs delete`` still removes a run for good."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, Request
from starlette.responses import Response

from shipyard.core.clock import from_ms
from shipyard.core.entities import ORCHESTRATOR_TAG, Metric, RunCreate, RunStatus
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.names import validate_key, validate_name
from shipyard.metadata.mlflow_compat import DatasetInput
from shipyard.server.deps import ctx_of, principal_of
from shipyard.server.mlflow.common import (
    answer,
    experiment_id_of,
    hidden,
    may_change_run,
    may_write_namespace,
    now_ms,
    read_run,
    store,
    visible_experiment,
)
from shipyard.server.mlflow.convert import (
    RUN_NAME_TAG,
    double,
    integer,
    pairs,
    run_id_of,
    run_info,
    run_json,
    text,
)
from shipyard.server.mlflow.filters import (
    STATUSES,
    decode_token,
    encode_token,
    translate_filter,
    translate_order_by,
)

JsonBody = Annotated[dict[str, Any], Body()]
MAX_SEARCH = 50_000  # MLflow's own cap on runs/search max_results
MAX_PAGE = 10_000  # what one page holds here (the store's bound); the client follows tokens
MAX_EXPERIMENT_IDS = 100
_VIEWS = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all", "1": "active", "2": "deleted"}
_BATCH_METRICS, _BATCH_PARAMS, _BATCH_TAGS = 1000, 100, 100  # MLflow's log-batch limits
_FINISHED = {"FINISHED": RunStatus.SUCCEEDED, "FAILED": RunStatus.FAILED, "KILLED": RunStatus.CANCELLED}


def _tags(items: list[tuple[str, str]]) -> dict[str, str]:
    return {validate_key("tag", key): value for key, value in items}


def create(request: Request, body: JsonBody) -> Response:
    from shipyard.core.ids import new_id

    compat = store(request)
    experiment_id = text(body, "experiment_id", required=False, limit=40) or "0"
    experiment = visible_experiment(request, compat.get_experiment(experiment_id))
    if experiment.lifecycle_stage != "active":
        raise InvalidInputError(f"experiment {experiment_id} is deleted; restore it or use another")
    may_write_namespace(request, experiment.namespace)
    tags = _tags(pairs(body, "tags", _BATCH_TAGS))
    wanted = text(body, "run_name", required=False, limit=250) or tags.get(RUN_NAME_TAG, "")
    run_id = new_id()
    try:
        name = validate_name("run", wanted, new=True) if wanted else f"run-{run_id[-8:]}"
    except InvalidInputError:
        name = f"run-{run_id[-8:]}"  # the MLflow name stays in the tag
    if wanted:
        tags[RUN_NAME_TAG] = wanted
    tags[ORCHESTRATOR_TAG] = "mlflow"
    start = integer(body, "start_time") or now_ms()
    create_run = RunCreate(
        id=run_id,
        name=name,
        namespace=experiment.namespace,
        user=principal_of(request).name,
        start_time=from_ms(start),
        tags=tags,
    )
    run = ctx_of(request).stores.metadata.create_run(create_run)
    return answer({"run": run_json(run, experiment.id)})


def get(request: Request) -> Response:
    from shipyard.server.mlflow.common import query

    run_id = run_id_of(query(request))
    run = read_run(request, run_id)
    compat = store(request)
    deleted = run_id in compat.deleted_runs([run_id])
    inputs = compat.run_inputs([run_id])[run_id]
    return answer({"run": run_json(run, experiment_id_of(request, run), deleted=deleted, inputs=inputs)})


def update(request: Request, body: JsonBody) -> Response:
    run_id = run_id_of(body)
    may_change_run(request, run_id)
    metadata = ctx_of(request).stores.metadata
    new_name = text(body, "run_name", required=False, limit=250)
    if new_name:
        metadata.set_tags(run_id, {RUN_NAME_TAG: new_name})
    status = text(body, "status", required=False, limit=20)
    if status and status not in STATUSES:
        raise InvalidInputError(f"unknown run status {status!r}; valid: {', '.join(STATUSES)}")
    if status in _FINISHED:
        end = integer(body, "end_time") or now_ms()
        metadata.finish_run(run_id, _FINISHED[status], from_ms(end))
    run = metadata.get_run(run_id)
    return answer({"run_info": run_info(run, experiment_id_of(request, run), False)})


def delete(request: Request, body: JsonBody) -> Response:
    run_id = run_id_of(body)
    may_change_run(request, run_id, "run:delete")
    store(request).set_run_deleted(run_id, True, now_ms())
    return answer({})


def restore(request: Request, body: JsonBody) -> Response:
    run_id = run_id_of(body)
    may_change_run(request, run_id, "run:delete")
    store(request).set_run_deleted(run_id, False, now_ms())
    return answer({})


def search(request: Request, body: JsonBody) -> Response:
    compat = store(request)
    ids = body.get("experiment_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > MAX_EXPERIMENT_IDS:
        raise InvalidInputError(f"experiment_ids must be a list of at most {MAX_EXPERIMENT_IDS} ids")
    namespaces: dict[str, str] = {}
    for experiment_id in dict.fromkeys(ids):
        try:
            experiment = visible_experiment(request, compat.get_experiment(experiment_id))
        except NotFoundError:
            continue  # MLflow answers the runs of the experiments that exist
        namespaces[experiment.namespace] = experiment.id
    limit = integer(body, "max_results", 1000) or 1000
    if not 1 <= limit <= MAX_SEARCH:
        raise InvalidInputError(f"max_results must be between 1 and {MAX_SEARCH}, got {limit}")
    view = _VIEWS.get(str(body.get("run_view_type") or "ACTIVE_ONLY"))
    if view is None:
        raise InvalidInputError("run_view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL")
    order_by = body.get("order_by") or []
    if not isinstance(order_by, list):
        raise InvalidInputError("order_by must be a list of strings like 'metrics.rmse DESC'")
    page = compat.search_runs(
        list(namespaces),
        translate_filter(text(body, "filter", required=False, limit=10_000)),
        translate_order_by(order_by),
        min(limit, MAX_PAGE),
        decode_token(text(body, "page_token", required=False, limit=200)),
        view,  # type: ignore[arg-type]
        hidden_projects=hidden(request),
    )
    run_ids = [run.id for run in page.runs]
    deleted, inputs = compat.deleted_runs(run_ids), compat.run_inputs(run_ids)
    runs = [
        run_json(run, namespaces[run.namespace], deleted=run.id in deleted, inputs=inputs[run.id])
        for run in page.runs
    ]
    doc: dict[str, Any] = {"runs": runs}
    if page.next_offset is not None:
        doc["next_page_token"] = encode_token(page.next_offset)
    return answer(doc)


def _metric(item: dict[str, Any]) -> Metric:
    key = validate_key("metric", text(item, "key", limit=250))
    step = integer(item, "step", 0) or 0
    timestamp = integer(item, "timestamp") or now_ms()
    return Metric(key, double(item.get("value"), f"metric {key!r} value"), step, timestamp)


_INT64 = 2**63 - 1


def _metric_columns(raw: list[dict[str, Any]]) -> tuple[list[str], list[float], list[int], list[int]]:
    """:func:`_metric` of each item, as parallel columns. The usual item (a key, a float or int
    value, an int step and a non-zero int timestamp, as the MLflow client sends them) is read
    here with the same checks; any other goes through :func:`_metric` (same result, same error)."""
    keys: list[str] = []
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int] = []
    for item in raw:
        key, value, step, stamp = (
            item.get("key"),
            item.get("value"),
            item.get("step", 0),
            item.get("timestamp"),
        )
        if (
            key.__class__ is str
            and 0 < len(key) <= 250
            and (value.__class__ is float or value.__class__ is int)
            and step.__class__ is int
            and stamp.__class__ is int
            and stamp
            and -_INT64 <= step <= _INT64
            and -_INT64 <= stamp <= _INT64
        ):
            keys.append(validate_key("metric", key))
            values.append(float(value))
            steps.append(step)
            stamps.append(stamp)
        else:
            metric = _metric(item)
            keys.append(metric.key)
            values.append(metric.value)
            steps.append(metric.step)
            stamps.append(metric.timestamp)
    return keys, values, steps, stamps


def log_metric(request: Request, body: JsonBody) -> Response:
    run_id = run_id_of(body)
    may_change_run(request, run_id)
    ctx_of(request).stores.metadata.log_metrics(run_id, [_metric(body)])
    return answer({})


def log_param(request: Request, body: JsonBody) -> Response:
    run_id = run_id_of(body)
    may_change_run(request, run_id)
    key = validate_key("param", text(body, "key", limit=250))
    ctx_of(request).stores.metadata.log_params(run_id, {key: text(body, "value", required=False, limit=6000)})
    return answer({})


def set_tag(request: Request, body: JsonBody) -> Response:
    run_id = run_id_of(body)
    may_change_run(request, run_id)
    key = validate_key("tag", text(body, "key", limit=250))
    ctx_of(request).stores.metadata.set_tags(run_id, {key: text(body, "value", required=False)})
    return answer({})


def delete_tag(request: Request, body: JsonBody) -> Response:
    run_id = run_id_of(body)
    may_change_run(request, run_id)
    key = validate_key("tag", text(body, "key", limit=250))
    ctx_of(request).stores.metadata.delete_tag(run_id, key)
    return answer({})


def log_batch(request: Request, body: JsonBody) -> Response:
    run_id = run_id_of(body)
    raw = body.get("metrics") or []
    if not isinstance(raw, list) or len(raw) > _BATCH_METRICS:
        raise InvalidInputError(f"metrics must be a list of at most {_BATCH_METRICS} metrics")
    if not all(isinstance(item, dict) for item in raw):
        raise InvalidInputError("each metric must be an object with key, value, timestamp and step")
    columns = _metric_columns(raw)
    params = {validate_key("param", k): v for k, v in pairs(body, "params", _BATCH_PARAMS)}
    tags = _tags(pairs(body, "tags", _BATCH_TAGS))
    may_change_run(request, run_id)
    metadata = ctx_of(request).stores.metadata
    if params:
        metadata.log_params(run_id, params)
    if tags:
        metadata.set_tags(run_id, tags)
    if raw:
        metadata.log_metric_columns(run_id, *columns)
    return answer({})


def _dataset_input(item: Any) -> DatasetInput:
    if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
        raise InvalidInputError("each of datasets must be an object with a dataset")
    dataset = item["dataset"]
    return DatasetInput(
        name=text(dataset, "name", limit=500),
        digest=text(dataset, "digest", limit=36),
        source_type=text(dataset, "source_type", limit=36),
        source=text(dataset, "source", limit=65_535),
        schema=text(dataset, "schema", required=False, limit=1_048_575),
        profile=text(dataset, "profile", required=False, limit=16_384),
        tags=dict(pairs(item, "tags", 100)),
    )


def log_inputs(request: Request, body: JsonBody) -> Response:
    run_id = run_id_of(body)
    raw = body.get("datasets") or []
    if not isinstance(raw, list) or len(raw) > 100:
        raise InvalidInputError("datasets must be a list of at most 100 inputs")
    inputs = [_dataset_input(item) for item in raw]
    may_change_run(request, run_id)
    if inputs:
        store(request).log_inputs(run_id, inputs)
    return answer({})


def log_model(request: Request, body: JsonBody) -> Response:
    """MLflow 2's record of a logged model: kept as the run's ``mlflow.log-model.history`` tag."""
    run_id = run_id_of(body)
    may_change_run(request, run_id)
    model = text(body, "model_json", limit=64 * 1024)
    metadata = ctx_of(request).stores.metadata
    history = metadata.get_run(run_id).tags.get("mlflow.log-model.history", "[]")
    import json

    try:
        items = json.loads(history)
        items = items if isinstance(items, list) else []
        items.append(json.loads(model))
    except ValueError:
        raise InvalidInputError("model_json is not valid JSON") from None
    metadata.set_tags(run_id, {"mlflow.log-model.history": json.dumps(items[-20:])})
    return answer({})


def log_outputs(request: Request, body: JsonBody) -> Response:
    """MLflow 3 links a logged model to the run that made it; the logged model already names its
    source run, so this only checks the caller may write the run."""
    may_change_run(request, run_id_of(body))
    return answer({})


ROUTES: list[tuple[str, str, Callable[..., Response]]] = [
    ("POST", "/runs/create", create),
    ("GET", "/runs/get", get),
    ("POST", "/runs/update", update),
    ("POST", "/runs/delete", delete),
    ("POST", "/runs/restore", restore),
    ("POST", "/runs/search", search),
    ("POST", "/runs/log-metric", log_metric),
    ("POST", "/runs/log-parameter", log_param),
    ("POST", "/runs/set-tag", set_tag),
    ("POST", "/runs/delete-tag", delete_tag),
    ("POST", "/runs/log-batch", log_batch),
    ("POST", "/runs/log-inputs", log_inputs),
    ("POST", "/runs/log-model", log_model),
    ("POST", "/runs/outputs", log_outputs),
]
