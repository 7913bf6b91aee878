"""The model registry: models, versions, tags, approval, aliases and their history, lineage.
Every list answers one page (``limit``/``offset`` in, ``next_offset`` out; see ``server/paging.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints
from starlette.responses import Response

from shipyard.core.errors import NotFoundError
from shipyard.core.names import validate_alias_name, validate_key, validate_model_name
from shipyard.metadata.model_registry import LineageRecord, ModelVersionCreate
from shipyard.security.policy import check_project_name
from shipyard.server import contract as c
from shipyard.server.access import check_model_create, check_new_version
from shipyard.server.deps import acting_user, ctx_of, decode_body, once, principal_of, wire
from shipyard.server.paging import LIST_PAGE_DEFAULT, check_list_page, split_page
from shipyard.server.schemas import (
    Alias,
    AliasChangeIn,
    AliasIn,
    ApprovalIn,
    Digest,
    Key,
    Limit,
    ModelCreateIn,
    ModelRenameIn,
    ModelTagsIn,
    ModelUpdateIn,
    Name,
    Offset,
    ProtectIn,
    TagsIn,
    Time,
    Version,
    VersionCreateIn,
)

router = APIRouter(prefix="/api/v1", tags=["models"], dependencies=once())
M = "/models/{name}"
V = "/models/{name}/versions/{version}"


def _name(name: str) -> str:
    return validate_model_name(name)


def _project(project: str | None) -> str | None:
    return None if project is None else check_project_name(project)


@router.post("/models", status_code=201)
def create_model(request: Request, body: ModelCreateIn) -> Response:
    """A new model, in ``project`` when given (that needs model:write at ``project:NAME``)."""
    project = _project(body.project)
    check_model_create(principal_of(request).access, project, body.name)
    model = ctx_of(request).registry.create_model(
        _name(body.name),
        user=acting_user(request, body.user),
        at=body.at,
        description=body.description,
        tags={validate_key("tag", k): v for k, v in body.tags.items()},
        project=project,
    )
    return wire(model, 201)


def _page(
    field: str,
    read: Callable[[int, int], Sequence[object]],
    limit: int,
    offset: int,
    keep: Callable[[list[Any]], list[Any]] | None = None,
) -> Response:
    """One page of a list: ``read(limit + 1, offset)`` tells whether another page follows;
    ``keep`` filters the page's rows (the offsets stay those of the unfiltered list)."""
    check_list_page(limit, offset)
    page, next_offset = split_page(read(limit + 1, offset), limit, offset)
    return wire({field: page if keep is None else keep(list(page)), "next_offset": next_offset})


@router.get("/models")
def list_models(
    request: Request,
    prefix: Annotated[str | None, StringConstraints(max_length=c.NAME_MAX)] = None,
    limit: Limit = LIST_PAGE_DEFAULT,
    offset: Offset = 0,
    hidden_project: Annotated[list[str] | None, Query(max_length=100)] = None,
) -> Response:
    """Models of private projects the caller may not see are never listed (nor counted in pages)."""
    registry, hidden = ctx_of(request).registry, _hidden(request, hidden_project)

    def read(n: int, at: int) -> Sequence[object]:
        return registry.list_models(prefix, limit=n, offset=at, hidden_projects=hidden)

    return _page("models", read, limit, offset)


def _hidden(request: Request, asked: list[str] | None) -> list[str]:
    """The private projects hidden from the caller, plus any the client itself asks to leave out."""
    return sorted({*principal_of(request).access.hidden_projects(), *(asked or ())})


@router.get("/model-versions")
def versions_from_artifact(
    request: Request,
    artifact_id: str | None = None,
    digest: Digest | None = None,
    limit: Limit = LIST_PAGE_DEFAULT,
    offset: Offset = 0,
) -> Response:
    registry = ctx_of(request).registry

    def read(n: int, at: int) -> Sequence[object]:
        return registry.versions_from_artifact(artifact_id=artifact_id, digest=digest, limit=n, offset=at)

    return _page("versions", read, limit, offset, _visible_versions(request))


@router.get("/runs/{run_id}/model-versions")
def versions_from_run(
    request: Request, run_id: str, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0
) -> Response:
    registry = ctx_of(request).registry
    return _page(
        "versions",
        lambda n, at: registry.versions_from_run(run_id, limit=n, offset=at),
        limit,
        offset,
        _visible_versions(request),
    )


def _visible_versions(request: Request) -> Callable[[list[Any]], list[Any]]:
    """Drops the versions of models in private projects the caller may not see (after paging: the
    page may come back shorter, ``next_offset`` still moves on past it)."""
    hidden = set(principal_of(request).access.hidden_projects())
    registry = ctx_of(request).registry

    def keep(versions: list[Any]) -> list[Any]:
        if not hidden:
            return versions
        visible = set()
        for name in {v.model_name for v in versions}:
            try:
                if registry.get_model(name).project not in hidden:
                    visible.add(name)
            except NotFoundError:  # deleted meanwhile: its versions are gone too
                continue
        return [v for v in versions if v.model_name in visible]

    return keep


@router.get(M)
def get_model(request: Request, name: Name) -> Response:
    return wire(ctx_of(request).registry.get_model(_name(name)))


@router.patch(M)
def update_model(request: Request, name: Name, body: ModelUpdateIn) -> Response:
    return wire(ctx_of(request).registry.update_model(_name(name), description=body.description, at=body.at))


@router.post(M + "/tags", status_code=204)
def set_model_tags(request: Request, name: Name, body: ModelTagsIn) -> Response:
    tags = {validate_key("tag", k): v for k, v in body.tags.items()}
    ctx_of(request).registry.set_model_tags(_name(name), tags, body.at)
    return Response(status_code=204)


@router.delete(M + "/tags", status_code=204)
def delete_model_tag(request: Request, name: Name, key: Key, at: Time | None = None) -> Response:
    from shipyard.core.clock import utcnow

    ctx_of(request).registry.delete_model_tag(_name(name), validate_key("tag", key), at or utcnow())
    return Response(status_code=204)


@router.post(M + "/rename")
def rename_model(request: Request, name: Name, body: ModelRenameIn) -> Response:
    """The model under a new name, with its versions, aliases, tags and lineage (the guard
    checked model:write on the model; the new name needs model:write where it will live)."""
    from shipyard.server.access import check_model_rename

    old, new = _name(name), validate_model_name(body.new_name, new=True)
    check_model_rename(ctx_of(request), principal_of(request).access, old, new)
    return wire(ctx_of(request).registry.rename_model(old, new, at=body.at))


@router.delete(M, status_code=204)
def delete_model(request: Request, name: Name) -> Response:
    ctx_of(request).registry.delete_model(_name(name))
    return Response(status_code=204)


@router.post(M + "/versions", status_code=201)
def create_version(request: Request, name: Name, body: VersionCreateIn) -> Response:
    data = body.model_dump()
    data["model_name"] = _name(name)
    data["project"] = _project(body.project)
    check_new_version(ctx_of(request), principal_of(request).access, data["model_name"], data["project"])
    data["created_by"] = acting_user(request, body.created_by)
    data["lineage"] = [decode_body(LineageRecord, r) for r in data["lineage"]]
    lineage = data.pop("lineage")
    create: ModelVersionCreate = decode_body(ModelVersionCreate, data)
    from dataclasses import replace

    return wire(ctx_of(request).registry.create_version(replace(create, lineage=tuple(lineage))), 201)


@router.get(M + "/versions")
def list_versions(
    request: Request, name: Name, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0
) -> Response:
    registry, model = ctx_of(request).registry, _name(name)
    return _page("versions", lambda n, at: registry.list_versions(model, limit=n, offset=at), limit, offset)


@router.get(V)
def get_version(request: Request, name: Name, version: Version) -> Response:
    return wire(ctx_of(request).registry.get_version(_name(name), version))


@router.delete(V, status_code=204)
def delete_version(request: Request, name: Name, version: Version) -> Response:
    ctx_of(request).registry.delete_version(_name(name), version)
    return Response(status_code=204)


@router.post(V + "/tags")
def set_version_tags(request: Request, name: Name, version: Version, body: TagsIn) -> Response:
    tags = {validate_key("tag", k): v for k, v in body.tags.items()}
    return wire(ctx_of(request).registry.set_version_tags(_name(name), version, tags))


@router.delete(V + "/tags")
def delete_version_tag(request: Request, name: Name, version: Version, key: Key) -> Response:
    return wire(ctx_of(request).registry.delete_version_tag(_name(name), version, validate_key("tag", key)))


@router.post(V + "/approval")
def set_approval(request: Request, name: Name, version: Version, body: ApprovalIn) -> Response:
    """Approve (or revoke); an approval is refused (409) when the version's package does not load."""
    ctx = ctx_of(request)
    user = acting_user(request, body.user)
    if body.approved:
        _check_loads(request, _name(name), version, "approve")
    return wire(ctx.registry.set_approval(_name(name), version, body.approved, user=user, at=body.at))


def _check_loads(request: Request, name: str, version: int, action: str) -> None:
    """409 when the version's package does not load or cannot predict its input example."""
    from shipyard.registry.validation import check_version_loads

    ctx = ctx_of(request)
    check_version_loads(ctx.stores, ctx.registry.get_version(name, version), action)


@router.get(V + "/lineage")
def version_lineage(
    request: Request, name: Name, version: Version, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0
) -> Response:
    registry, model = ctx_of(request).registry, _name(name)

    def read(n: int, at: int) -> Sequence[object]:
        return registry.version_lineage(model, version, limit=n, offset=at)

    return _page("lineage", read, limit, offset)


@router.put(M + "/aliases/{alias}")
def set_alias(request: Request, name: Name, alias: Alias, body: AliasIn) -> Response:
    """Point the alias at a version; refused (409) when its package does not load."""
    registry = ctx_of(request).registry
    user = acting_user(request, body.user)
    model, alias = _name(name), validate_alias_name(alias)
    _check_loads(request, model, body.version, f"set alias {alias!r} to")
    return wire(registry.set_alias(model, alias, body.version, user=user, at=body.at))


@router.post(M + "/aliases/{alias}/delete")
def delete_alias(request: Request, name: Name, alias: Alias, body: AliasChangeIn) -> Response:
    registry = ctx_of(request).registry
    user = acting_user(request, body.user)
    return wire(registry.delete_alias(_name(name), validate_alias_name(alias), user=user, at=body.at))


@router.post(M + "/aliases/{alias}/protection")
def protect_alias(request: Request, name: Name, alias: Alias, body: ProtectIn) -> Response:
    registry = ctx_of(request).registry
    user = acting_user(request, body.user)
    event = registry.protect_alias(
        _name(name), validate_alias_name(alias), body.protected, user=user, at=body.at
    )
    return wire(event)


@router.get(M + "/aliases/{alias}")
def resolve_alias(request: Request, name: Name, alias: Alias) -> Response:
    return wire(ctx_of(request).registry.resolve_alias(_name(name), validate_alias_name(alias)))


@router.get(M + "/alias-history")
def alias_history(
    request: Request,
    name: Name,
    alias: Alias | None = None,
    limit: Limit = LIST_PAGE_DEFAULT,
    offset: Offset = 0,
) -> Response:
    registry, model = ctx_of(request).registry, _name(name)

    def read(n: int, at: int) -> Sequence[object]:
        return registry.alias_history(model, alias, limit=n, offset=at)

    return _page("events", read, limit, offset)
