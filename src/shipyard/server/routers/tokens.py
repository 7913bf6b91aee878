"""Who am I, API tokens (create / list / revoke), users and the audit log (admins)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard.core.clock import utcnow
from shipyard.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from shipyard.core.names import validate_name
from shipyard.metadata.security import SecurityStore, TokenRecord
from shipyard.server.accounts import issue_token
from shipyard.server.deps import ctx_of, principal_of, wire
from shipyard.server.permissions import Role
from shipyard.server.schemas import TokenCreateIn, UserCreateIn

router = APIRouter(prefix="/api/v1", tags=["tokens and users"])


def _security(request: Request) -> SecurityStore:
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
    return wire({"user": principal.name, "role": principal.role.value, "token_id": principal.token_id})


@router.post("/tokens", status_code=201)
def create_token(request: Request, body: TokenCreateIn) -> Response:
    principal = principal_of(request)
    owner = body.user or principal.name
    if owner != principal.name and principal.role is not Role.ADMIN:
        raise PermissionDeniedError(f"only admins may create tokens for other users (not {principal.name!r})")
    validate_name("token", body.name)
    expires = timedelta(seconds=body.expires_in_s) if body.expires_in_s is not None else None
    value, record = issue_token(_security(request), owner, body.name, expires)
    return wire({"token": value, "record": _public(record)}, 201)


@router.get("/tokens")
def list_tokens(request: Request, all: bool = False) -> Response:
    principal = principal_of(request)
    if all and principal.role is not Role.ADMIN:
        raise PermissionDeniedError("only admins may list every user's tokens")
    records = _security(request).list_tokens(None if all else principal.name)
    return wire({"tokens": [_public(r) for r in records]})


@router.delete("/tokens/{token_id}")
def revoke_token(request: Request, token_id: str) -> Response:
    principal = principal_of(request)
    store = _security(request)
    record = store.get_token(token_id)
    if record.user != principal.name and principal.role is not Role.ADMIN:
        raise NotFoundError(f"token {token_id!r} does not exist; `shipyard tokens list` shows them")
    revoked = store.revoke_token(token_id, utcnow())
    authenticator = ctx_of(request).authenticator
    if authenticator is not None:
        authenticator.clear()
    return wire(_public(revoked))


@router.post("/users", status_code=201)
def create_user(request: Request, body: UserCreateIn) -> Response:
    if body.role not in {r.value for r in Role}:
        raise InvalidInputError(f"unknown role {body.role!r}; use one of {', '.join(r.value for r in Role)}")
    user = _security(request).create_user(validate_name("user", body.name), body.role, utcnow())
    return wire(user, 201)


@router.get("/users")
def list_users(request: Request) -> Response:
    return wire({"users": _security(request).list_users()})


@router.get("/audit")
def list_audit(request: Request, limit: int = 100, user: str | None = None) -> Response:
    if not 0 < limit <= 10_000:
        raise InvalidInputError(f"limit must be between 1 and 10000, got {limit}")
    audit = ctx_of(request).audit
    if audit is not None:
        audit.flush()  # include what was just done
    return wire({"events": _security(request).list_audit(limit, user)})
