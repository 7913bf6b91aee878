"""Roles as data: the permission catalog, the built-in roles, scopes, and the one evaluation.

Pure functions over data, no I/O. A **binding** gives a principal (a user, a service account or a
group) a **role** (a named set of permissions) at a **scope**:

- ``*`` — the whole server;
- ``project:NAME`` — one project (and every environment of it);
- ``project:NAME/env:ENV`` — one environment of a project;
- ``project:NAME/branch:BRANCH`` — one branch of a project (its runs, models, datasets).

A principal acting **on a branch** (``Access.branch``: the request's ``X-Shipyard-Branch``)
uses its write permissions only on that branch's objects — scopes ending in ``/branch:B`` and the
branch's delivery slots ``/env:E--B`` —; reading anything stays as its grants allow
(:data:`BRANCH_READS`). So production is never written from a branch, whatever the client does.

A principal's :class:`Access` is the union of its own and its groups' bindings, optionally narrowed
by the token it presented (a scope and/or a subset of permissions). ``Access.can(permission,
scope)`` is the one question every decision asks; ownership rules (:func:`may_change`) sit on top.

A **machine token** (for CI/CD) is narrowed to a project, an environment and a set of **actions**
(:data:`ACTIONS`: ``run``, ``plan``, ``apply``, ``promote``, ``experiment``, ``sync``). Each
action is a set of permissions that reach either the environment (``project:P/env:E``: delivery)
or the whole project (``project:P``: a run, its data and models belong to the project, not to an
environment). The token's :class:`Access` carries those per-action grants (``token_grants``) on
top of the plain narrowing, so ``apply`` on staging never applies to production, and a refusal
says which scope and actions the token has (:meth:`Access.narrowing`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shipyard.core.errors import InvalidInputError

SERVER_SCOPE = "*"

# ---- the catalog ---------------------------------------------------------------------------------
PERMISSIONS: dict[str, str] = {
    "run:read": "read runs, params, metrics, tasks, lineage and artifacts",
    "run:write": "create runs and change one's own runs (params, metrics, tags, artifacts, finish)",
    "run:write:any": "change anyone's runs and write into another user's namespace",
    "run:delete": "delete one's own runs (another's needs run:write:any too)",
    "model:read": "read models, versions, aliases, cards and lineage",
    "model:write": "create models, register versions, change one's own models and versions",
    "model:write:any": "change anyone's models and versions",
    "model:delete": "delete models and versions one may change",
    "model:approve": "approve or revoke the approval of a version (never one's own)",
    "alias:set": "point and remove unprotected aliases on models one may change",
    "alias:set:protected": "move or remove a protected alias (e.g. champion)",
    "alias:protect": "protect or unprotect an alias",
    "monitor:read": "read reference profiles, monitors, results and alerts",
    "monitor:write": "declare monitors, store profiles, results, alerts and feedback labels",
    "predict": "call an inference service",
    "deploy:plan": "read an environment's applied state, releases and lock, and plan against it",
    "deploy:apply": "apply a plan to an environment, or roll it back to an earlier release",
    "deploy:sync": "ask an environment's sync loop to poll git now (a webhook; changes nothing else)",
    "secret:read": "read secret values",
    "secret:write": "set and delete secrets",
    "data:read": "read datasets and feature views (masked where a data policy says so)",
    "data:write": "write datasets and feature views",
    "data:read:pii": "read columns and rows a data policy marks as PII, unmasked",
    "token:create": "create and revoke one's own API tokens",
    "token:manage": "create, list and revoke anyone's API tokens",
    "user:manage": "manage users, service accounts, groups, roles and bindings",
    "policy:manage": "create, list and delete data policies (column masks and row filters)",
    "audit:read": "read and verify the audit log",
    "metrics:read": "scrape the server's Prometheus metrics (/metrics: platform-wide counts and names)",
}

_VIEWER = frozenset(
    {"run:read", "model:read", "monitor:read", "data:read", "deploy:plan", "predict", "token:create"}
)
_DEVELOPER = _VIEWER | {
    "run:write",
    "run:delete",
    "model:write",
    "alias:set",
    "monitor:write",
    "data:write",
    "deploy:sync",
}
_MAINTAINER = _DEVELOPER | {
    "run:write:any",
    "model:write:any",
    "model:delete",
    "model:approve",
    "alias:set:protected",
    "alias:protect",
    "deploy:apply",
    "secret:read",
    "secret:write",
}
BUILTIN_ROLES: dict[str, frozenset[str]] = {
    "viewer": _VIEWER,
    "developer": frozenset(_DEVELOPER),
    "maintainer": frozenset(_MAINTAINER),
    "admin": frozenset(PERMISSIONS),
}
# the roles of the first version (one role per user); a stored "reader" means "viewer" now
LEGACY_ROLES = {"reader": "viewer", "writer": "developer", "admin": "admin"}

_SCOPE_RE = re.compile(
    r"^project:([a-z0-9][a-z0-9_\-]{0,62})(?:/env:([a-z0-9][a-z0-9_\-]{0,62})|/branch:([a-z0-9][a-z0-9_\-]{0,39}))?$"
)
#: what a principal on a branch may still use outside the branch (reading, calling a service)
BRANCH_READS = frozenset(
    {
        "run:read",
        "model:read",
        "monitor:read",
        "data:read",
        "data:read:pii",
        "deploy:plan",
        "predict",
        "secret:read",
        "token:create",
        "audit:read",
        "metrics:read",
    }
)


def check_scope(scope: str) -> str:
    """``scope`` if it is ``*``, ``project:NAME``, ``project:NAME/env:ENV`` or
    ``project:NAME/branch:BRANCH``; else a one-line error."""
    if scope == SERVER_SCOPE or _SCOPE_RE.fullmatch(scope):
        return scope
    raise InvalidInputError(
        f"invalid scope {scope!r}; use '*' (the server), 'project:NAME', 'project:NAME/env:ENV' or "
        "'project:NAME/branch:BRANCH' (lower-case letters, digits, '-' and '_')"
    )


def check_project_name(name: str) -> str:
    """``name`` if it can name a project (``project:NAME`` is a valid scope); else a one-line error."""
    if "/" not in name and _SCOPE_RE.fullmatch(f"project:{name}"):
        return name
    raise InvalidInputError(
        f"invalid project name {name!r}; use lower-case letters, digits, '-' and '_' "
        "(at most 63, starting with a letter or digit)"
    )


def check_permissions(permissions: Iterable[str]) -> frozenset[str]:
    """The set, if every name is in the catalog; else an error listing the unknown ones."""
    chosen = frozenset(permissions)
    unknown = sorted(chosen - PERMISSIONS.keys())
    if unknown:
        raise InvalidInputError(
            f"unknown permission(s) {', '.join(unknown)}; `shipyard roles permissions` lists them"
        )
    return chosen


# ---- machine-token actions -------------------------------------------------------------------------
_READ_FACTS = frozenset({"run:read", "model:read", "data:read", "monitor:read"})  # what a plan looks at


@dataclass(frozen=True)
class Action:
    permissions: frozenset[str]
    reach: str  # "environment": at project:P/env:E; "project": at project:P
    description: str
    reads: frozenset[str] = frozenset()  # more read permissions at project:P (every environment)
    # what a release written with only this action may change (None: anything; see
    # :func:`release_refusal`), checked by the server where the release is written
    changes: frozenset[str] | None = None


ACTIONS: dict[str, Action] = {
    "run": Action(
        frozenset({"run:read", "run:write", "data:read", "model:read"}),
        "project",
        "run flows and record runs in the project's namespace (runs belong to the project)",
    ),
    "plan": Action(
        frozenset({"deploy:plan"}), "environment", "plan against the environment (read its state)"
    ),
    "apply": Action(
        frozenset({"deploy:plan", "deploy:apply"}), "environment", "plan and apply to the environment"
    ),
    "promote": Action(
        frozenset({"deploy:plan", "deploy:apply"}),
        "environment",
        "promote a challenger into the environment (through its gates): promotion releases only",
        changes=frozenset({"service", "experiment"}),
    ),
    "experiment": Action(
        frozenset({"deploy:plan", "deploy:apply"}),
        "environment",
        "start, stop and check A/B experiments in the environment: experiment releases only "
        "(reads every environment of the project, to find a branch's deployment)",
        reads=frozenset({"deploy:plan"}),
        changes=frozenset({"experiment"}),
    ),
    "sync": Action(frozenset({"deploy:sync"}), "environment", "wake the environment's sync loop"),
}


def check_actions(actions: Iterable[str]) -> tuple[str, ...]:
    """The actions, sorted, if each is known and there is at least one; else a one-line error."""
    chosen = sorted(set(actions))
    unknown = [a for a in chosen if a not in ACTIONS]
    if unknown or not chosen:
        what = f"unknown action(s) {', '.join(unknown)}" if unknown else "no action given"
        raise InvalidInputError(f"{what}; a machine token takes one or more of: {', '.join(ACTIONS)}")
    return tuple(chosen)


def environment_scope(project: str, environment: str) -> str:
    """``project:P/env:E`` (both names checked), the scope a machine token is narrowed to."""
    return check_scope(f"project:{check_project_name(project)}/env:{environment}")


def split_scope(scope: str) -> tuple[str | None, str | None]:
    """(project, environment) of a scope (None where it names none)."""
    match = _SCOPE_RE.fullmatch(scope)
    return (match.group(1), match.group(2)) if match else (None, None)


def action_grants(scope: str, actions: Iterable[str]) -> tuple[Grant, ...]:
    """What a machine token narrowed to ``scope`` (``project:P/env:E``) with ``actions`` may do:
    each action's permissions at the environment, those that reach the project at ``project:P``,
    and the facts a plan reads (runs, models, data, monitors) at the project for delivery actions."""
    project, environment = split_scope(scope)
    if project is None or environment is None:
        raise InvalidInputError(f"a machine token needs a project:P/env:E scope, not {scope!r}")
    at_env: set[str] = set()
    at_project: set[str] = set()
    for name in check_actions(actions):
        action = ACTIONS[name]
        (at_project if action.reach == "project" else at_env).update(action.permissions)
        if action.reach == "environment":
            at_project.update(_READ_FACTS)
        at_project.update(action.reads)
    grants = [Grant(scope, frozenset(at_env))] if at_env else []
    if at_project:
        grants.append(Grant(f"project:{project}", frozenset(at_project)))
    return tuple(grants)


def action_permissions(actions: Iterable[str]) -> tuple[str, ...]:
    """Every permission the actions use (the token's plain narrowing), sorted."""
    union: set[str] = set()
    for name in check_actions(actions):
        union |= ACTIONS[name].permissions | ACTIONS[name].reads
        if ACTIONS[name].reach == "environment":
            union |= _READ_FACTS
    return tuple(sorted(union))


def release_refusal(
    actions: Iterable[str] | None, kinds: Iterable[str], removes: int, plan: Mapping[str, object]
) -> str | None:
    """Why a machine token with ``actions`` may not write a release putting objects of ``kinds``
    and removing ``removes`` (None: it may). ``apply`` writes anything; a token with only
    ``experiment`` and/or ``promote`` writes releases of its kind only (experiment objects; a
    promotion: its plan carries the gates, and it changes a service and its experiment), so such a
    token never applies a spec to the environment."""
    if actions is None:
        return None
    chosen = set(actions)
    if "apply" in chosen or not chosen & {"experiment", "promote"}:
        return None
    allowed: set[str] = set()
    for name in chosen:
        allowed |= ACTIONS[name].changes or frozenset()
    changed = set(kinds)
    promotion = "promotion" in plan and "gates" in plan
    if "service" in changed and not ("promote" in chosen and promotion):
        allowed.discard("service")
    if removes or not changed <= allowed:
        what = ", ".join(sorted(changed - allowed)) or f"{removes} removal(s)"
        return (
            f"a token with actions {', '.join(sorted(chosen))} writes only "
            f"{' and '.join(sorted(chosen))} releases, not one changing {what} "
            "(an apply needs the apply action)"
        )
    return None


def covers(outer: str, inner: str) -> bool:
    """Whether a binding at ``outer`` applies to something at ``inner``."""
    return outer in (SERVER_SCOPE, inner) or inner.startswith(outer + "/")


def in_branch(scope: str, branch: str) -> bool:
    """Whether ``scope`` is one of ``branch``'s: ``project:P/branch:B`` or a delivery slot
    ``project:P/env:E--B`` (core/branches.py ``slot_name``)."""
    last = scope.rsplit("/", 1)[-1]
    return last == f"branch:{branch}" or (last.startswith("env:") and last.endswith(f"--{branch}"))


def slot_base(scope: str) -> str:
    """``project:P/env:E`` for a branch slot's scope ``project:P/env:E--B`` (else ``scope``): a
    machine token narrowed to environment E also reaches its branches' deployments there."""
    head, sep, last = scope.rpartition("/")
    if sep and last.startswith("env:") and "--" in last:
        return f"{head}/env:{last.removeprefix('env:').rsplit('--', 1)[0]}"
    return scope


def scope_of_namespace(namespace: str) -> str:
    """Where a run in ``namespace`` lives: a branch's namespace ``project:NAME/branch:B`` is that
    branch's scope; other ``project:NAME...`` namespaces belong to that project; every other
    namespace (``user:alice``, ``production``) is at the server scope."""
    if namespace.startswith("project:"):
        if "/branch:" in namespace and _SCOPE_RE.fullmatch(namespace):
            return namespace
        project = namespace.split("/", 1)[0]
        if _SCOPE_RE.fullmatch(project):
            return project
    return SERVER_SCOPE


@dataclass(frozen=True)
class Grant:
    scope: str
    permissions: frozenset[str]


@dataclass(frozen=True)
class Access:
    """What one principal may do: grants per scope, narrowed by the token it used."""

    principal: str
    grants: tuple[Grant, ...]
    token_scope: str | None = None  # a token narrowed to a scope acts only there
    token_permissions: frozenset[str] | None = None  # ... and only with these permissions
    kind: str = "user"  # "user" | "service"
    private_projects: frozenset[str] = frozenset()  # where server-wide grants stop (admins' excepted)
    token_grants: tuple[Grant, ...] | None = None  # a machine token: its actions' grants (see above)
    token_actions: tuple[str, ...] | None = None  # ... and the actions' names, for messages
    branch: str | None = None  # acting on this branch: writes only reach the branch's objects

    def can(self, permission: str, scope: str = SERVER_SCOPE) -> bool:
        """May the principal use ``permission`` on something at ``scope``?"""
        if self.token_permissions is not None and permission not in self.token_permissions:
            return False
        if self.branch_refusal(permission, scope) is not None:
            return False
        if self.token_grants is not None:  # a machine token: its actions' grants, finer than a scope
            unslotted = slot_base(scope)  # a branch's slot E--B is part of environment E
            if not any(
                permission in g.permissions and (covers(g.scope, scope) or covers(g.scope, unslotted))
                for g in self.token_grants
            ):
                return False
        elif self.token_scope is not None and not covers(self.token_scope, scope):
            return False
        return any(permission in g.permissions and self._reaches(g, scope) for g in self.grants)

    def narrowing(self) -> str | None:
        """What the presented token is limited to, in words (None for a token that is not)."""
        if self.token_actions is not None:
            return f"its token is limited to actions {', '.join(self.token_actions)} on {self.token_scope}"
        parts = []
        if self.token_scope is not None:
            parts.append(f"scope {self.token_scope}")
        if self.token_permissions is not None:
            parts.append(f"permissions {', '.join(sorted(self.token_permissions)) or '(none)'}")
        return f"its token is limited to {' and '.join(parts)}" if parts else None

    def branch_refusal(self, permission: str, scope: str) -> str | None:
        """Why acting on a branch keeps ``permission`` from ``scope`` (None: it does not)."""
        if self.branch is None or permission in BRANCH_READS or in_branch(scope, self.branch):
            return None
        return (
            f"on branch {self.branch!r} {permission} reaches only the branch's objects, not {scope}; "
            "production is written only by `shipyard apply -e production` without a branch"
        )

    def _reaches(self, grant: Grant, scope: str) -> bool:
        """A grant at ``*`` reaches into a private project only when it can manage users (an admin
        could bind itself there anyway); everywhere else :func:`covers` decides."""
        if grant.scope == SERVER_SCOPE and scope != SERVER_SCOPE:
            project = scope.split("/", 1)[0].removeprefix("project:")
            if project in self.private_projects and "user:manage" not in grant.permissions:
                return False
        return covers(grant.scope, scope)

    def hidden_projects(self) -> list[str]:
        """The private projects this principal may not see at all."""
        return sorted(p for p in self.private_projects if not self.can("run:read", f"project:{p}"))

    def can_somewhere(self, permission: str) -> bool:
        """May the principal use ``permission`` at some scope (the guard's first, cheap check)?"""
        if self.token_permissions is not None and permission not in self.token_permissions:
            return False
        if self.token_grants is not None:
            reach = [t.scope for t in self.token_grants if permission in t.permissions]
            return any(
                permission in g.permissions and any(covers(r, g.scope) or covers(g.scope, r) for r in reach)
                for g in self.grants
            )
        return any(
            permission in g.permissions
            and (
                self.token_scope is None
                or covers(self.token_scope, g.scope)
                or covers(g.scope, self.token_scope)
            )
            for g in self.grants
        )

    def permissions_at(self, scope: str = SERVER_SCOPE) -> frozenset[str]:
        return frozenset(p for p in PERMISSIONS if self.can(p, scope))


def resolve_access(
    principal: str,
    bindings: Iterable[tuple[str, str]],
    custom_roles: Mapping[str, frozenset[str]],
    *,
    kind: str = "user",
    token_scope: str | None = None,
    token_permissions: frozenset[str] | None = None,
    private_projects: frozenset[str] = frozenset(),
    token_actions: tuple[str, ...] | None = None,
) -> Access:
    """``bindings`` are (role name, scope) pairs (the principal's and its groups'); a role that no
    longer exists grants nothing."""
    merged: dict[str, set[str]] = {}
    for bound, scope in bindings:
        role = bound if bound in custom_roles else LEGACY_ROLES.get(bound, bound)
        granted = BUILTIN_ROLES.get(role) or custom_roles.get(role) or frozenset()
        merged.setdefault(scope, set()).update(granted)
    grants = tuple(Grant(s, frozenset(p)) for s, p in sorted(merged.items()))
    token_grants = None
    if token_actions is not None and token_scope is not None:  # a machine token (see ACTIONS)
        token_grants = action_grants(token_scope, token_actions)
    return Access(
        principal,
        grants,
        token_scope,
        token_permissions,
        kind,
        private_projects,
        token_grants,
        token_actions,
    )


def full_access(principal: str) -> Access:
    """Everything everywhere: a ``--no-auth`` loopback server's single user."""
    return Access(principal, (Grant(SERVER_SCOPE, frozenset(PERMISSIONS)),))


# ---- ownership -------------------------------------------------------------------------------------
_ANY = {
    "run:write": "run:write:any",
    "run:delete": "run:write:any",
    "model:write": "model:write:any",
    "model:delete": "model:write:any",
    "alias:set": "model:write:any",
}


def may_change(access: Access, permission: str, scope: str, owner: str | None) -> str | None:
    """None when ``access`` may use ``permission`` on an object owned by ``owner`` at ``scope``;
    otherwise why not (one line). Owners need ``permission``; others need its ``:any`` form too."""
    on_branch = access.branch_refusal(permission, scope)
    if on_branch is not None:
        return on_branch
    if not access.can(permission, scope):
        return f"{access.principal!r} lacks the {permission} permission" + _where(scope)
    wider = _ANY.get(permission)
    if owner is not None and owner != access.principal and wider is not None and not access.can(wider, scope):
        return f"it belongs to {owner!r}; changing another's needs {wider}" + _where(scope)
    return None


def _where(scope: str) -> str:
    return "" if scope == SERVER_SCOPE else f" in {scope}"


def check_role_name(name: str) -> str:
    if name in BUILTIN_ROLES or name in LEGACY_ROLES:
        raise InvalidInputError(f"{name!r} is a built-in role; pick another name for a custom role")
    if not re.fullmatch(r"[a-z][a-z0-9_\-]{0,62}", name):
        raise InvalidInputError(
            f"invalid role name {name!r}; use lower-case letters, digits, '-' and '_', starting with a letter"
        )
    return name
