"""MLflow 3's logged models: create, get, finalize, tags, params, search.

``mlflow.<flavor>.log_model`` creates a logged model, uploads its files to the model's artifact
URI (``mlflow-artifacts:/<experiment>/models/<model_id>/artifacts``) and finalizes it. A logged
model must come from a run (``source_run_id``): its files are that run's artifacts under
``mlflow-models/<model_id>/`` (see :mod:`.artifacts`), so ``shipyard`` sees them with the run, and
writing them needs ``run:write`` on the run like any artifact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Body, Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.names import validate_key, validate_name
from shipyard.metadata.mlflow_compat import LoggedModel
from shipyard.server.deps import principal_of
from shipyard.server.mlflow.common import answer, may_change_run, now_ms, read_run, store
from shipyard.server.mlflow.convert import integer, pairs, text

JsonBody = Annotated[dict[str, Any], Body()]
STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")
MAX_SEARCH = 1000
FILES_PREFIX = "mlflow-models"


def model_uri(model: LoggedModel) -> str:
    return f"mlflow-artifacts:/{model.experiment_id}/models/{model.model_id}/artifacts"


def logged_json(model: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.created_ms,
        "last_updated_timestamp_ms": model.updated_ms,
        "artifact_uri": model_uri(model),
        "status": model.status,
        "model_type": model.model_type,
        "tags": [{"key": k, "value": v} for k, v in sorted(model.tags.items())],
    }
    if model.run_id is not None:
        info["source_run_id"] = model.run_id
    params = [{"key": k, "value": v} for k, v in sorted(model.params.items())]
    return {"info": info, "data": {"params": params, "metrics": []}}


def readable(request: Request, model_id: str) -> LoggedModel:
    model = store(request).get_logged_model(model_id)
    if model.run_id is not None:
        read_run(request, model.run_id)  # a private project's run hides its models too
    return model


def writable(request: Request, model_id: str) -> LoggedModel:
    model = store(request).get_logged_model(model_id)
    if model.run_id is None:
        raise InvalidInputError(f"logged model {model_id} has no source run; it cannot change")
    may_change_run(request, model.run_id)
    return model


def create(request: Request, body: JsonBody) -> Response:
    import uuid

    compat = store(request)
    run_id = text(body, "source_run_id", required=False, limit=64)
    if not run_id:
        raise InvalidInputError("log models inside a run: shipyard keeps a model's files with its source run")
    may_change_run(request, run_id)
    experiment_id = text(body, "experiment_id", limit=40)
    compat.get_experiment(experiment_id)
    name = text(body, "name", required=False, limit=250) or "model"
    validate_name("model", name)
    now = now_ms()
    model = LoggedModel(
        model_id=f"m-{uuid.uuid4().hex}",
        experiment_id=experiment_id,
        name=name,
        run_id=run_id,
        status="LOGGED_MODEL_PENDING",
        created_ms=now,
        updated_ms=now,
        creator=principal_of(request).name,
        model_type=text(body, "model_type", required=False, limit=250),
        tags={validate_key("tag", k): v for k, v in pairs(body, "tags", 100)},
        params={validate_key("param", k): v for k, v in pairs(body, "params", 1000)},
    )
    return answer({"model": logged_json(compat.put_logged_model(model))})


def get(request: Request, model_id: str) -> Response:
    return answer({"model": logged_json(readable(request, model_id))})


def finalize(request: Request, model_id: str, body: JsonBody) -> Response:
    model = writable(request, model_id)
    status = text(body, "status", limit=40)
    if status not in STATUSES:
        raise InvalidInputError(f"unknown logged model status {status!r}; valid: {', '.join(STATUSES)}")
    done = store(request).put_logged_model(replace(model, status=status, updated_ms=now_ms()))
    return answer({"model": logged_json(done)})


def set_tags(request: Request, model_id: str, body: JsonBody) -> Response:
    model = writable(request, model_id)
    tags = {**model.tags, **{validate_key("tag", k): v for k, v in pairs(body, "tags", 100)}}
    store(request).put_logged_model(replace(model, tags=tags, updated_ms=now_ms()))
    return answer({})


def delete_tag(request: Request, model_id: str, tag_key: str) -> Response:
    model = writable(request, model_id)
    tags = {k: v for k, v in model.tags.items() if k != tag_key}
    store(request).put_logged_model(replace(model, tags=tags, updated_ms=now_ms()))
    return answer({})


def log_params(request: Request, model_id: str, body: JsonBody) -> Response:
    model = writable(request, model_id)
    params = {**model.params, **{validate_key("param", k): v for k, v in pairs(body, "params", 1000)}}
    store(request).put_logged_model(replace(model, params=params, updated_ms=now_ms()))
    return answer({})


def _name_of(source: str) -> str | None:
    """The one logged-model filter answered: ``name = '...'`` (what ``register_model`` sends)."""
    from shipyard.metadata.filters import tokenize

    tokens = [t for t in tokenize(source) if t.kind != "end"] if source.strip() else []
    if not tokens:
        return None
    if len(tokens) == 3 and tokens[0].text == "name" and tokens[1].text == "=" and tokens[2].kind == "string":
        return tokens[2].text
    raise InvalidInputError(f"invalid logged model filter {source[:100]!r}: only name = '...' is supported")


def search(request: Request, body: JsonBody) -> Response:
    from shipyard.server.mlflow.filters import decode_token, encode_token

    ids = body.get("experiment_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > 100:
        raise InvalidInputError("experiment_ids must be a list of at most 100 ids")
    limit = integer(body, "max_results", 100) or 100
    if not 1 <= limit <= MAX_SEARCH:
        raise InvalidInputError(f"max_results must be between 1 and {MAX_SEARCH}, got {limit}")
    offset = decode_token(text(body, "page_token", required=False, limit=200))
    name = _name_of(text(body, "filter", required=False, limit=1000))
    found = store(request).search_logged_models(ids, name=name, limit=limit + 1, offset=offset)
    models = []
    for model in found[:limit]:
        try:
            models.append(logged_json(readable(request, model.model_id)))
        except NotFoundError:
            continue  # a private project's model is left out
    doc: dict[str, Any] = {"models": models}
    if len(found) > limit:
        doc["next_page_token"] = encode_token(offset + limit)
    return answer(doc)


_M = "/logged-models/{model_id}"
ROUTES: list[tuple[str, str, Callable[..., Response]]] = [
    ("POST", "/logged-models", create),
    ("POST", "/logged-models/search", search),
    ("GET", _M, get),
    ("PATCH", _M, finalize),
    ("PATCH", f"{_M}/tags", set_tags),
    ("DELETE", f"{_M}/tags/{{tag_key}}", delete_tag),
    ("POST", f"{_M}/params", log_params),
]
