"""MLflow experiments: create, get, get-by-name, search, update, delete, restore, tags.

An experiment is one namespace (see :mod:`shipyard.metadata.mlflow_compat`): creating, renaming,
deleting or tagging one needs ``run:write`` where its namespace's runs are written
(:func:`shipyard.server.access.check_namespace`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.names import validate_key, validate_name
from shipyard.server.deps import ctx_of
from shipyard.server.mlflow.common import (
    answer,
    hidden,
    may_write_namespace,
    now_ms,
    query,
    store,
    visible_experiment,
)
from shipyard.server.mlflow.convert import experiment_json, integer, pairs, text
from shipyard.server.mlflow.filters import decode_token, encode_token

JsonBody = Annotated[dict[str, Any], Body()]
MAX_EXPERIMENTS = 10_000  # one page of experiments/search at most
_VIEWS = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all", "1": "active", "2": "deleted"}


def _get(request: Request, experiment_id: str) -> Any:
    return visible_experiment(request, store(request).get_experiment(experiment_id))


def _writable(request: Request, experiment_id: str) -> Any:
    experiment = _get(request, experiment_id)
    may_write_namespace(request, experiment.namespace)
    return experiment


def create(request: Request, body: JsonBody) -> Response:
    name = validate_name("experiment", text(body, "name", limit=250), new=True)
    if body.get("artifact_location"):
        raise InvalidInputError(
            "artifact_location is not supported: shipyard keeps every run's artifacts in its own "
            "store (served through /api/2.0/mlflow-artifacts); leave it out"
        )
    may_write_namespace(request, name)
    tags = {validate_key("tag", k): v for k, v in pairs(body, "tags", 100)}
    experiment = store(request).create_experiment(name, tags=tags, now_ms=now_ms())
    return answer({"experiment_id": experiment.id})


def get(request: Request) -> Response:
    experiment_id = text(query(request), "experiment_id", limit=40)
    return answer({"experiment": experiment_json(_get(request, experiment_id))})


def get_by_name(request: Request) -> Response:
    name = text(query(request), "experiment_name", limit=250)
    compat = store(request)
    experiment = compat.get_experiment_by_name(name)
    if experiment is None:  # a namespace with shipyard runs and no experiment yet gets one
        metadata = ctx_of(request).stores.metadata
        if metadata.search_runs([name], max_results=1, hidden_projects=hidden(request)).runs:
            experiment = compat.experiment_for_namespace(name, now_ms())
    if experiment is None:
        raise NotFoundError(f"could not find experiment with name {name!r}")
    return answer({"experiment": experiment_json(visible_experiment(request, experiment))})


def _name_filter(source: str) -> tuple[str, str] | None:
    """The only experiment filters answered: ``name = '...'``, ``name LIKE '...'``."""
    from shipyard.metadata.filters import tokenize

    if not source.strip():
        return None
    tokens = [t for t in tokenize(source) if t.kind != "end"]
    words = [t.text.lower() for t in tokens]
    if words[:1] == ["attributes"] and len(tokens) > 2 and tokens[1].kind == "dot":
        tokens, words = tokens[2:], words[2:]
    if (
        len(tokens) == 3
        and words[0] == "name"
        and words[1] in ("=", "like", "ilike")
        and tokens[2].kind == "string"
    ):
        return words[1], tokens[2].text
    raise InvalidInputError(
        f"invalid experiment filter {source[:100]!r}: only name = '...' and name LIKE '...' are supported"
    )


def search(request: Request, body: JsonBody) -> Response:
    limit = integer(body, "max_results", 1000) or 1000
    if not 1 <= limit <= MAX_EXPERIMENTS:
        raise InvalidInputError(f"max_results must be between 1 and {MAX_EXPERIMENTS}, got {limit}")
    view = _VIEWS.get(str(body.get("view_type") or "ACTIVE_ONLY"))
    if view is None:
        raise InvalidInputError("view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL")
    condition = _name_filter(text(body, "filter", required=False, limit=1000))
    offset = decode_token(text(body, "page_token", required=False, limit=200))
    compat = store(request)
    compat.adopt_namespaces(now_ms())
    if condition is not None and condition[0] == "=":
        found = compat.get_experiment_by_name(condition[1])
        rows = [found] if found is not None and view in ("all", found.lifecycle_stage) and offset == 0 else []
    else:
        like = None if condition is None else condition[1]
        rows = compat.list_experiments(view, name_like=like, limit=limit + 1, offset=offset)  # type: ignore[arg-type]
    page = []
    for experiment in rows[:limit]:
        try:
            page.append(experiment_json(visible_experiment(request, experiment)))
        except NotFoundError:
            continue  # a private project's experiment is left out
    doc: dict[str, Any] = {"experiments": page}
    if len(rows) > limit:
        doc["next_page_token"] = encode_token(offset + limit)
    return answer(doc)


def update(request: Request, body: JsonBody) -> Response:
    experiment = _writable(request, text(body, "experiment_id", limit=40))
    name = validate_name("experiment", text(body, "new_name", limit=250), new=True)
    store(request).rename_experiment(experiment.id, name, now_ms())
    return answer({})


def delete(request: Request, body: JsonBody) -> Response:
    experiment = _writable(request, text(body, "experiment_id", limit=40))
    store(request).set_experiment_stage(experiment.id, "deleted", now_ms())
    return answer({})


def restore(request: Request, body: JsonBody) -> Response:
    experiment = _writable(request, text(body, "experiment_id", limit=40))
    store(request).set_experiment_stage(experiment.id, "active", now_ms())
    return answer({})


def set_tag(request: Request, body: JsonBody) -> Response:
    experiment = _writable(request, text(body, "experiment_id", limit=40))
    key = validate_key("tag", text(body, "key", limit=250))
    store(request).set_experiment_tag(experiment.id, key, text(body, "value", required=False), now_ms())
    return answer({})


def delete_tag(request: Request, body: JsonBody) -> Response:
    experiment = _writable(request, text(body, "experiment_id", limit=40))
    key = validate_key("tag", text(body, "key", limit=250))
    store(request).set_experiment_tag(experiment.id, key, None, now_ms())
    return answer({})


ROUTES: list[tuple[str, str, Callable[..., Response]]] = [
    ("POST", "/experiments/create", create),
    ("GET", "/experiments/get", get),
    ("GET", "/experiments/get-by-name", get_by_name),
    ("POST", "/experiments/search", search),
    ("POST", "/experiments/update", update),
    ("POST", "/experiments/delete", delete),
    ("POST", "/experiments/restore", restore),
    ("POST", "/experiments/set-experiment-tag", set_tag),
    ("POST", "/experiments/delete-experiment-tag", delete_tag),
]
