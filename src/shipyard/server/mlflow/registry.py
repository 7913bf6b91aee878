"""MLflow registered models over shipyard's registry: create, get, search, update, delete, tags,
aliases, latest versions per stage (:mod:`.versions` has the versions and the stage view).

An MLflow registered model is a shipyard registered model (``shipyard models`` lists it), created
at the server scope; permissions and per-object checks are the native API's
(:mod:`shipyard.server.access`: ownership, private projects, protected aliases). A rename keeps
the versions, aliases, tags and lineage (``models:/OLD/...`` stops resolving, as in MLflow)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Body, Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.names import validate_alias_name, validate_key, validate_model_name
from shipyard.server.deps import ctx_of, principal_of
from shipyard.server.mlflow.common import answer, query
from shipyard.server.mlflow.convert import integer, pairs, text
from shipyard.server.mlflow.versions import STAGES, check, number, stage_of, version_json

if TYPE_CHECKING:
    from shipyard.metadata.model_registry import RegisteredModel

JsonBody = Annotated[dict[str, Any], Body()]
MAX_SEARCH = 1000


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


def model_json(request: Request, model: RegisteredModel) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": _ms(model.created_at),
        "last_updated_timestamp": _ms(model.updated_at),
        "user_id": model.created_by,
        "description": model.description,
        "tags": [{"key": k, "value": v} for k, v in sorted(model.tags.items())],
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
    }
    if model.latest_version is not None:
        try:
            latest = ctx_of(request).registry.get_version(model.name, model.latest_version)
            doc["latest_versions"] = [version_json(latest)]
        except NotFoundError:
            pass  # the newest version was deleted
    return doc


def _name(body: dict[str, Any]) -> str:
    return validate_model_name(text(body, "name", limit=250))


def create(request: Request, body: JsonBody) -> Response:
    from shipyard.core.clock import utcnow
    from shipyard.server.access import check_model_create

    name = validate_model_name(text(body, "name", limit=250), new=True)
    check_model_create(principal_of(request).access, None)
    tags = {validate_key("tag", k): v for k, v in pairs(body, "tags", 100)}
    model = ctx_of(request).registry.create_model(
        name,
        user=principal_of(request).name,
        at=utcnow(),
        description=text(body, "description", required=False),
        tags=tags,
    )
    return answer({"registered_model": model_json(request, model)})


def get(request: Request) -> Response:
    name = _name(query(request))
    check(request, "model:read", name)
    return answer({"registered_model": model_json(request, ctx_of(request).registry.get_model(name))})


def rename(request: Request, body: JsonBody) -> Response:
    """The model under ``new_name`` with its versions, aliases, tags and lineage: model:write on
    the model and where the new name will live (:func:`shipyard.server.access.check_model_rename`)."""
    from shipyard.core.clock import utcnow
    from shipyard.server.access import check_model_rename

    name = _name(body)
    new_name = validate_model_name(text(body, "new_name", limit=250), new=True)
    check_model_rename(ctx_of(request), principal_of(request).access, name, new_name)
    model = ctx_of(request).registry.rename_model(name, new_name, at=utcnow())
    return answer({"registered_model": model_json(request, model)})


def update(request: Request, body: JsonBody) -> Response:
    from shipyard.core.clock import utcnow

    name = _name(body)
    check(request, "model:write", name)
    model = ctx_of(request).registry.update_model(
        name, description=text(body, "description", required=False), at=utcnow()
    )
    return answer({"registered_model": model_json(request, model)})


def delete(request: Request, body: JsonBody) -> Response:
    name = _name(body)
    check(request, "model:delete", name)
    ctx_of(request).registry.delete_model(name)
    return answer({})


def search(request: Request) -> Response:
    """``name = '...'``, ``name LIKE 'prefix%'`` or no filter; one page, by name."""
    from shipyard.server.mlflow.filters import PROMPT_TAG, clauses, decode_token, encode_token

    params = query(request)
    wanted = "registered model search takes name = '...' or name LIKE 'prefix%'"
    exact = prefix = None
    for field, op, value in clauses(text(params, "filter", required=False, limit=1000), wanted):
        if field == f"tag:{PROMPT_TAG}" and op == "!=" and value == "true":
            continue  # shipyard keeps no prompts
        if field != "name" or op not in ("=", "like", "ilike"):
            raise InvalidInputError(f"invalid filter: {wanted}")
        if op == "=":
            exact = value
        elif value.endswith("%") and "%" not in value[:-1] and "_" not in value:
            prefix = value[:-1]
        else:
            raise InvalidInputError("name LIKE takes a prefix pattern only, e.g. name LIKE 'fraud%'")
    limit = integer(params, "max_results", 100) or 0
    if not 1 <= limit <= MAX_SEARCH:
        raise InvalidInputError(f"max_results must be between 1 and {MAX_SEARCH}")
    offset = decode_token(text(params, "page_token", required=False, limit=200))
    hidden = sorted(principal_of(request).access.hidden_projects())
    registry = ctx_of(request).registry
    found = registry.list_models(exact or prefix, limit=limit + 1, offset=offset, hidden_projects=hidden)
    if exact is not None:
        found = [m for m in found if m.name == exact]
    doc: dict[str, Any] = {"registered_models": [model_json(request, m) for m in found[:limit]]}
    if len(found) > limit:
        doc["next_page_token"] = encode_token(offset + limit)
    return answer(doc)


def set_tag(request: Request, body: JsonBody) -> Response:
    from shipyard.core.clock import utcnow

    name = _name(body)
    key = validate_key("tag", text(body, "key", limit=250))
    check(request, "model:write", name)
    ctx_of(request).registry.set_model_tags(name, {key: text(body, "value", required=False)}, utcnow())
    return answer({})


def delete_tag(request: Request, body: JsonBody) -> Response:
    from shipyard.core.clock import utcnow

    name = _name(body)
    key = validate_key("tag", text(body, "key", limit=250))
    check(request, "model:write", name)
    ctx_of(request).registry.delete_model_tag(name, key, utcnow())
    return answer({})


def set_alias(request: Request, body: JsonBody) -> Response:
    from shipyard.core.clock import utcnow
    from shipyard.server.access import check_alias

    name = _name(body)
    alias = validate_alias_name(text(body, "alias", limit=100), new=True)
    who = principal_of(request)
    check_alias(ctx_of(request), who.access, "alias:set", name, alias)
    ctx_of(request).registry.set_alias(name, alias, number(body), user=who.name, at=utcnow())
    return answer({})


def delete_alias(request: Request, body: JsonBody) -> Response:
    from shipyard.core.clock import utcnow
    from shipyard.server.access import check_alias

    name = _name(body)
    alias = validate_alias_name(text(body, "alias", limit=100))
    who = principal_of(request)
    check_alias(ctx_of(request), who.access, "alias:set", name, alias)
    ctx_of(request).registry.delete_alias(name, alias, user=who.name, at=utcnow())
    return answer({})


def get_by_alias(request: Request) -> Response:
    params = query(request)
    name = _name(params)
    alias = validate_alias_name(text(params, "alias", limit=100))
    check(request, "model:read", name)
    return answer({"model_version": version_json(ctx_of(request).registry.resolve_alias(name, alias))})


def latest_versions(request: Request, body: JsonBody) -> Response:
    """Per stage asked (all when none), the version its alias points at; ``None``: the newest
    version without a stage."""
    name = _name(body)
    check(request, "model:read", name)
    stages = body.get("stages") or ["None", "Staging", "Production"]
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        raise InvalidInputError("stages must be a list of stage names")
    registry = ctx_of(request).registry
    model = registry.get_model(name)
    found = []
    for stage in dict.fromkeys(s.lower() for s in stages):
        if stage in STAGES and stage in model.aliases:
            found.append(version_json(registry.get_version(name, model.aliases[stage])))
        elif stage == "none":
            newest = registry.list_versions(name, limit=10_000)
            plain = [v for v in newest if stage_of(v) == "None"]
            if plain:
                found.append(version_json(plain[-1]))
    return answer({"model_versions": found})


ROUTES: list[tuple[str, str, Callable[..., Response]]] = [
    ("POST", "/registered-models/create", create),
    ("GET", "/registered-models/get", get),
    ("POST", "/registered-models/rename", rename),
    ("PATCH", "/registered-models/update", update),
    ("DELETE", "/registered-models/delete", delete),
    ("GET", "/registered-models/search", search),
    ("POST", "/registered-models/set-tag", set_tag),
    ("DELETE", "/registered-models/delete-tag", delete_tag),
    ("POST", "/registered-models/alias", set_alias),
    ("DELETE", "/registered-models/alias", delete_alias),
    ("GET", "/registered-models/alias", get_by_alias),
    ("POST", "/registered-models/get-latest-versions", latest_versions),
]
