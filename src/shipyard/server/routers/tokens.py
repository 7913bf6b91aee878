"""Who am I and API tokens (create / list / revoke). Tokens can be narrowed to a scope and a subset
of permissions; a narrowed token never mints a wider one. A machine token (CI/CD) is narrowed to a
project, an environment and a set of actions (:data:`shipyard.security.policy.ACTIONS`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from annotated_types import Interval
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shipyard.core.clock import utcnow
from shipyard.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from shipyard.core.names import validate_name
from shipyard.metadata.security import SecurityStore, TokenRecord
from shipyard.security.policy import (
    Access,
    action_permissions,
    check_actions,
    check_permissions,
    check_scope,
    covers,
    environment_scope,
)
from shipyard.server.accounts import issue_token
from shipyard.server.deps import ctx_of, once, principal_of, wire
from shipyard.server.schemas import Offset, TokenCreateIn

router = APIRouter(prefix="/api/v1", tags=["tokens"], dependencies=once())


def security_of(request: Request) -> SecurityStore:
    store = ctx_of(request).security
    if store is None:  # pragma: no cover - create_app always sets it
        raise NotFoundError("this server keeps no users or tokens")
    return store


def _public(record: TokenRecord) -> dict[str, object]:
    """A token record without its hash."""
    return record.public(utcnow())


@router.get("/whoami")
def whoami(request: Request) -> Response:
    principal = principal_of(request)
    access = principal.access
    grants = [{"scope": g.scope, "permissions": sorted(g.permissions)} for g in access.grants]
    return wire(
        {
            "user": principal.name,
            "kind": access.kind,
            "token_id": principal.token_id,
            "token_scope": access.token_scope,
            "token_permissions": sorted(access.token_permissions)
            if access.token_permissions is not None
            else None,
            "token_actions": list(access.token_actions) if access.token_actions is not None else None,
            "permissions": sorted(access.permissions_at()),
            "grants": grants,
        }
    )


def machine_narrowing(body: TokenCreateIn) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """(scope, permissions, actions) of a machine token request, None for a plain one. The
    environment need not have a release yet: a CI token is made before the first apply."""
    if body.project is None and body.environment is None and body.actions is None:
        return None
    if body.project is None or body.environment is None or not body.actions:
        raise InvalidInputError(
            "a machine token needs project, environment and actions together "
            "(e.g. project=fraud, environment=staging, actions=[apply])"
        )
    if body.scope is not None or body.permissions is not None:
        raise InvalidInputError(
            "give either project/environment/actions (a machine token) or scope/permissions, not both"
        )
    scope = environment_scope(body.project, body.environment)
    actions = check_actions(body.actions)
    return scope, action_permissions(actions), actions


def _narrowing(
    creator: Access, body: TokenCreateIn, for_self: bool, machine: tuple[str, tuple[str, ...]] | None
) -> tuple[str | None, tuple[str, ...] | None]:
    scope = check_scope(body.scope) if body.scope is not None else None
    permissions = check_permissions(body.permissions) if body.permissions is not None else None
    if machine is not None:
        scope, permissions = machine[0], frozenset(machine[1])
    if for_self:  # a narrowed token only mints tokens inside its own narrowing
        if creator.token_scope is not None:
            if scope is not None and not covers(creator.token_scope, scope):
                raise PermissionDeniedError(
                    f"this token is limited to {creator.token_scope!r}; it cannot mint {scope!r}"
                )
            scope = scope or creator.token_scope
        if creator.token_permissions is not None:
            extra = sorted((permissions or creator.token_permissions) - creator.token_permissions)
            if extra:
                raise PermissionDeniedError(
                    f"this token lacks {', '.join(extra)}; it cannot mint a token with them"
                )
            permissions = permissions or creator.token_permissions
        missing = sorted(p for p in permissions or () if not creator.can_somewhere(p))
        if missing:
            raise InvalidInputError(f"you hold no {', '.join(missing)} permission to put on a token")
    return scope, tuple(sorted(permissions)) if permissions is not None else None


@router.post("/tokens", status_code=201)
def create_token(request: Request, body: TokenCreateIn) -> Response:
    principal = principal_of(request)
    owner = body.user or principal.name
    if owner != principal.name and not principal.can("token:manage"):
        raise PermissionDeniedError(
            f"creating tokens for other users needs the token:manage permission ({principal.name!r} lacks it)"
        )
    validate_name("token", body.name)
    machine = machine_narrowing(body)
    narrowed = (machine[0], machine[1]) if machine is not None else None
    scope, permissions = _narrowing(principal.access, body, owner == principal.name, narrowed)
    expires = timedelta(seconds=body.expires_in_s) if body.expires_in_s is not None else None
    value, record = issue_token(
        security_of(request),
        owner,
        body.name,
        expires,
        scope=scope,
        permissions=permissions,
        actions=machine[2] if machine is not None else None,
    )
    return wire({"token": value, "record": _public(record)}, 201)


@router.get("/tokens")
def list_tokens(
    request: Request,
    all: bool = False,
    user: Annotated[str | None, Query(max_length=250)] = None,
    limit: Annotated[int, Interval(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Response:
    principal = principal_of(request)
    if not 0 < limit <= 1000 or offset < 0:
        raise InvalidInputError(f"limit must be between 1 and 1000 and offset >= 0, got {limit}, {offset}")
    if (all or (user is not None and user != principal.name)) and not principal.can("token:manage"):
        raise PermissionDeniedError("listing another user's tokens needs the token:manage permission")
    owner = user if user is not None else (None if all else principal.name)  # user= narrows all=true
    records = security_of(request).list_tokens(owner, limit=limit + 1, offset=offset)
    more = len(records) > limit
    return wire(
        {"tokens": [_public(r) for r in records[:limit]], "next_offset": offset + limit if more else None}
    )


@router.delete("/tokens/{token_id}")
def revoke_token(request: Request, token_id: str) -> Response:
    principal = principal_of(request)
    store = security_of(request)
    record = store.get_token(token_id)
    if record.user != principal.name and not principal.can("token:manage"):
        raise NotFoundError(f"token {token_id!r} does not exist; `shipyard tokens list` shows them")
    revoked = store.revoke_token(token_id, utcnow())
    authenticator = ctx_of(request).authenticator
    if authenticator is not None:
        authenticator.clear()
    return wire(_public(revoked))
