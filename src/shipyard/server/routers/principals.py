"""Users and service accounts, groups, roles (built-in and custom), bindings, and the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from annotated_types import Interval
from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard.core.clock import utcnow
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.ids import new_id
from shipyard.core.names import validate_name
from shipyard.metadata.security import AuditEvent, Binding, CustomRole, Project
from shipyard.security.policy import (
    BUILTIN_ROLES,
    LEGACY_ROLES,
    PERMISSIONS,
    check_permissions,
    check_project_name,
    check_role_name,
    check_scope,
)
from shipyard.server.accounts import add_user
from shipyard.server.deps import ctx_of, once, principal_of, wire
from shipyard.server.routers.tokens import security_of
from shipyard.server.schemas import (
    BindingCreateIn,
    GroupCreateIn,
    Id64,
    Limit,
    Name,
    Offset,
    PasswordSetIn,
    ProjectCreateIn,
    ProjectName,
    ProjectUpdateIn,
    RoleCreateIn,
    RoleName,
    Time,
    UserCreateIn,
    UserUpdateIn,
)

router = APIRouter(prefix="/api/v1", tags=["users, roles and audit"], dependencies=once())
Page = Annotated[int, Interval(ge=1, le=1000)]  # one page of users, groups, projects or bindings


def _limit(limit: int, most: int = 1000) -> int:
    if not 0 < limit <= most:
        raise InvalidInputError(f"limit must be between 1 and {most}, got {limit}")
    return limit


def _role_name(request: Request, role: str) -> str:
    role = LEGACY_ROLES.get(role, role)
    if role in BUILTIN_ROLES or role in {r.name for r in security_of(request).list_roles()}:
        return role
    known = sorted(BUILTIN_ROLES) + [r.name for r in security_of(request).list_roles()]
    raise InvalidInputError(f"unknown role {role!r}; use one of {', '.join(known)}")


def _bind(request: Request, kind: str, principal: str, role: str, scope: str) -> Binding:
    binding = Binding(
        id=new_id(),
        principal_kind=kind,
        principal=principal,
        role=_role_name(request, role),
        scope=check_scope(scope),
        created_at=utcnow(),
        created_by=principal_of(request).name,
    )
    created = security_of(request).create_binding(binding)
    _access_changed(request)
    return created


def _access_changed(request: Request) -> None:
    authenticator = ctx_of(request).authenticator
    if authenticator is not None:
        authenticator.clear()


# ---- users and service accounts ------------------------------------------------------------------
@router.post("/users", status_code=201)
def create_user(request: Request, body: UserCreateIn) -> Response:
    name = validate_name("user", body.name)
    role = _role_name(request, body.role) if body.role is not None else None
    by = principal_of(request).name
    user = add_user(security_of(request), name, role, by=by, kind=body.kind, description=body.description)
    return wire(user, 201)


@router.get("/users")
def list_users(
    request: Request,
    kind: Literal["user", "service"] | None = None,
    limit: Page = 100,
    after: str | None = None,
) -> Response:
    users = security_of(request).list_users(kind=kind, limit=_limit(limit) + 1, after=after)
    more = len(users) > limit
    return wire({"users": users[:limit], "next_after": users[limit - 1].name if more else None})


@router.patch("/users/{name}")
def update_user(request: Request, name: Name, body: UserUpdateIn) -> Response:
    if name == principal_of(request).name and body.disabled:
        raise InvalidInputError("you cannot disable yourself; ask another admin")
    user = security_of(request).set_user_disabled(name, body.disabled)
    _access_changed(request)
    return wire(user)


@router.put("/users/{name}/password", status_code=204)
def set_password(request: Request, name: Name, body: PasswordSetIn) -> Response:
    """Set (or, with ``password: null``, remove) the UI sign-in password of ``name``.

    ``user:manage`` sets anyone's; a user sets its own with its current password or, when it has
    none yet, with a token that is not narrowed (a narrowed token must not widen itself into a
    full UI session). Service accounts never have a password. The user's UI sessions end."""
    from shipyard.core.errors import PermissionDeniedError
    from shipyard.security.passwords import check_password_strength, hash_password, verify_password
    from shipyard.server.accounts import end_ui_sessions

    principal, store = principal_of(request), security_of(request)
    found = store.password_of(name)
    if name != principal.name and not principal.can("user:manage"):
        raise PermissionDeniedError(f"setting {name!r}'s password needs user:manage; you may set your own")
    if found is None:
        raise NotFoundError(f"user {name!r} does not exist; `shipyard users list` shows them")
    user, stored = found
    if user.kind == "service":
        raise InvalidInputError(f"{name!r} is a service account: it uses tokens and never has a password")
    if name == principal.name and not principal.can("user:manage"):
        if stored is not None:
            from shipyard.server.ui.login import login_throttled, note_failed_login

            ctx = ctx_of(request)
            throttled = login_throttled(ctx, request, name)  # guesses here count as sign-in failures
            if throttled is not None:
                return throttled
            if not verify_password(stored, body.current_password or "")[0]:
                note_failed_login(ctx, request, name)
                raise PermissionDeniedError("the current password is wrong; send current_password")
        elif principal.access.token_scope is not None or principal.access.token_permissions is not None:
            raise PermissionDeniedError("a narrowed token cannot set a password; use an unrestricted token")
    new = None if body.password is None else hash_password(check_password_strength(body.password))
    store.set_password(name, new)
    end_ui_sessions(store, name)
    _access_changed(request)
    return Response(status_code=204)


# ---- groups --------------------------------------------------------------------------------------
@router.post("/groups", status_code=201)
def create_group(request: Request, body: GroupCreateIn) -> Response:
    group = security_of(request).create_group(validate_name("group", body.name), utcnow(), body.description)
    return wire(group, 201)


@router.get("/groups")
def list_groups(request: Request, limit: Page = 100, after: str | None = None) -> Response:
    groups = security_of(request).list_groups(limit=_limit(limit) + 1, after=after)
    more = len(groups) > limit
    return wire({"groups": groups[:limit], "next_after": groups[limit - 1].name if more else None})


@router.delete("/groups/{name}", status_code=204)
def delete_group(request: Request, name: Name) -> Response:
    security_of(request).delete_group(name)
    _access_changed(request)
    return Response(status_code=204)


@router.put("/groups/{name}/members/{member}")
def add_member(request: Request, name: Name, member: Name) -> Response:
    group = security_of(request).set_membership(name, member, True)
    _access_changed(request)
    return wire(group)


@router.delete("/groups/{name}/members/{member}")
def remove_member(request: Request, name: Name, member: Name) -> Response:
    group = security_of(request).set_membership(name, member, False)
    _access_changed(request)
    return wire(group)


# ---- roles and bindings --------------------------------------------------------------------------
@router.get("/roles")
def list_roles(request: Request) -> Response:
    builtin = [
        {"name": n, "builtin": True, "permissions": sorted(p), "description": ""}
        for n, p in BUILTIN_ROLES.items()
    ]
    custom = [
        {"name": r.name, "builtin": False, "permissions": list(r.permissions), "description": r.description}
        for r in security_of(request).list_roles()
    ]
    return wire({"roles": builtin + custom, "permissions": PERMISSIONS})


@router.post("/roles", status_code=201)
def create_role(request: Request, body: RoleCreateIn) -> Response:
    role = CustomRole(
        name=check_role_name(body.name),
        permissions=tuple(sorted(check_permissions(body.permissions))),
        created_at=utcnow(),
        description=body.description,
    )
    return wire(security_of(request).create_role(role), 201)


@router.delete("/roles/{name}", status_code=204)
def delete_role(request: Request, name: RoleName) -> Response:
    security_of(request).delete_role(name)
    return Response(status_code=204)


@router.get("/bindings")
def list_bindings(
    request: Request,
    principal: str | None = None,
    scope: str | None = None,
    limit: Page = 100,
    offset: Offset = 0,
) -> Response:
    if offset < 0:
        raise InvalidInputError(f"offset must be >= 0, got {offset}")
    found = security_of(request).list_bindings(
        principal=principal, scope=scope, limit=_limit(limit) + 1, offset=offset
    )
    more = len(found) > limit
    return wire({"bindings": found[:limit], "next_offset": offset + limit if more else None})


@router.post("/bindings", status_code=201)
def create_binding(request: Request, body: BindingCreateIn) -> Response:
    return wire(_bind(request, body.principal_kind, body.principal, body.role, body.scope), 201)


@router.delete("/bindings/{binding_id}")
def delete_binding(request: Request, binding_id: str) -> Response:
    removed = security_of(request).delete_binding(binding_id)
    _access_changed(request)
    return wire(removed)


# ---- the audit log -------------------------------------------------------------------------------
@router.get("/audit")
def list_audit(  # noqa: PLR0917 - one argument per query parameter
    request: Request,
    limit: Limit = 100,
    user: str | None = None,
    action: str | None = None,
    since: Time | None = None,
    before_id: Id64 | None = None,
) -> Response:
    audit = ctx_of(request).audit
    if audit is not None:
        audit.flush()  # include what was just done
    events = security_of(request).list_audit(
        _limit(limit, 10_000), user, action=action, since=since, before_id=before_id
    )
    last = events[-1].id if len(events) == limit else None
    return wire({"events": events, "next_before_id": last})


@router.get("/audit/verify")
def verify_audit(request: Request) -> Response:
    from shipyard.core.audit_chain import verify

    audit = ctx_of(request).audit
    if audit is not None:
        audit.flush()
    store = security_of(request)

    def walk() -> Iterator[AuditEvent]:
        after = 0
        while batch := store.iter_audit(after):
            yield from batch
            after = batch[-1].id or after

    verdict = verify(walk())
    return wire(
        {
            "ok": verdict.ok,
            "checked": verdict.checked,
            "unchained": verdict.unchained,
            "head": verdict.head,
            "problem": verdict.problem,
        }
    )


# ---- projects ------------------------------------------------------------------------------------
@router.post("/projects", status_code=201)
def create_project(request: Request, body: ProjectCreateIn) -> Response:
    project = Project(
        name=check_project_name(body.name),
        private=body.private,
        created_at=utcnow(),
        created_by=principal_of(request).name,
        description=body.description,
    )
    created = security_of(request).create_project(project)
    _access_changed(request)
    return wire(created, 201)


@router.get("/projects")
def list_projects(request: Request, limit: Page = 100, after: str | None = None) -> Response:
    """Projects, less the private ones the caller may not see."""
    hidden = set(principal_of(request).access.hidden_projects())
    found = security_of(request).list_projects(limit=_limit(limit) + 1, after=after)
    more = len(found) > limit
    visible = [p for p in found[:limit] if p.name not in hidden]
    return wire({"projects": visible, "next_after": found[limit - 1].name if more else None})


@router.patch("/projects/{name}")
def update_project(request: Request, name: ProjectName, body: ProjectUpdateIn) -> Response:
    updated = security_of(request).set_project_private(name, body.private)
    _access_changed(request)
    return wire(updated)
