"""Authorization as data: every route (method + path template) maps to the permission it needs.

A route that is not in the table is refused (deny by default); ``tests/server/test_routes_auth.py``
enumerates ``app.routes`` and fails when one is missing. ``PUBLIC`` routes need no token — keep
that list short and explicit.
"""

from __future__ import annotations

import enum

RouteKey = tuple[str, str]  # (HTTP method, path template as FastAPI declares it)


class Permission(enum.StrEnum):
    PUBLIC = "public"  # no token at all
    READ = "read"  # any valid token
    WRITE = "write"  # a token of a user with the writer or admin role
    ADMIN = "admin"  # a token of an admin


class Role(enum.StrEnum):
    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.READER: frozenset({Permission.PUBLIC, Permission.READ}),
    Role.WRITER: frozenset({Permission.PUBLIC, Permission.READ, Permission.WRITE}),
    Role.ADMIN: frozenset(Permission),
}

_P = Permission
API = "/api/v1"

_R, _W, _A = _P.READ, _P.WRITE, _P.ADMIN
_M = f"{API}/models/{{name}}"
_V = f"{_M}/versions/{{version}}"
_MP = f"{API}/monitoring/profiles/{{model}}/{{version}}"

_TABLE: dict[RouteKey, Permission] = {
    ("GET", "/health"): _P.PUBLIC,
    # the OpenAPI schema and its viewer describe the API: they need a token like the API
    ("GET", "/openapi.json"): _R,
    ("GET", "/docs"): _R,
    ("GET", "/docs/oauth2-redirect"): _R,
    # runs
    ("POST", f"{API}/runs"): _W,
    ("GET", f"{API}/runs"): _R,
    ("GET", f"{API}/runs-count"): _R,
    ("GET", f"{API}/run-ids"): _R,
    ("POST", f"{API}/runs-fail-stale"): _W,
    ("GET", f"{API}/runs/{{run_id}}"): _R,
    ("POST", f"{API}/runs/{{run_id}}/finish"): _W,
    ("POST", f"{API}/runs/{{run_id}}/heartbeat"): _W,
    ("DELETE", f"{API}/runs/{{run_id}}"): _W,
    # params, metrics, tags
    ("POST", f"{API}/runs/{{run_id}}/params"): _W,
    ("POST", f"{API}/runs/{{run_id}}/metrics"): _W,
    ("GET", f"{API}/runs/{{run_id}}/metric-history"): _R,
    ("POST", f"{API}/runs/{{run_id}}/tags"): _W,
    ("DELETE", f"{API}/runs/{{run_id}}/tags"): _W,
    # artifacts and their bytes
    ("POST", f"{API}/artifacts"): _W,
    ("GET", f"{API}/artifacts/{{artifact_id}}"): _R,
    ("GET", f"{API}/runs/{{run_id}}/artifacts"): _R,
    ("GET", f"{API}/runs/{{run_id}}/artifact"): _R,
    ("PUT", f"{API}/blobs/sha256/{{digest}}"): _W,
    ("GET", f"{API}/blobs/sha256/{{digest}}"): _R,
    ("HEAD", f"{API}/blobs/sha256/{{digest}}"): _R,
    # tasks and lineage
    ("POST", f"{API}/tasks"): _W,
    ("GET", f"{API}/cached-task"): _R,
    ("GET", f"{API}/tasks/{{task_id}}"): _R,
    ("PATCH", f"{API}/tasks/{{task_id}}"): _W,
    ("GET", f"{API}/runs/{{run_id}}/tasks"): _R,
    ("POST", f"{API}/lineage"): _W,
    ("GET", f"{API}/tasks/{{task_id}}/inputs"): _R,
    ("GET", f"{API}/artifacts/{{artifact_id}}/consumers"): _R,
    # model registry
    ("POST", f"{API}/models"): _W,
    ("GET", f"{API}/models"): _R,
    ("GET", f"{API}/model-versions"): _R,
    ("GET", f"{API}/runs/{{run_id}}/model-versions"): _R,
    ("GET", _M): _R,
    ("PATCH", _M): _W,
    ("POST", f"{_M}/tags"): _W,
    ("DELETE", _M): _W,
    ("POST", f"{_M}/versions"): _W,
    ("GET", f"{_M}/versions"): _R,
    ("GET", _V): _R,
    ("DELETE", _V): _W,
    ("POST", f"{_V}/tags"): _W,
    ("DELETE", f"{_V}/tags"): _W,
    ("POST", f"{_V}/approval"): _W,
    ("GET", f"{_V}/lineage"): _R,
    ("PUT", f"{_M}/aliases/{{alias}}"): _W,
    ("POST", f"{_M}/aliases/{{alias}}/delete"): _W,
    ("POST", f"{_M}/aliases/{{alias}}/protection"): _W,
    ("GET", f"{_M}/aliases/{{alias}}"): _R,
    ("GET", f"{_M}/alias-history"): _R,
    # monitoring records: reference profiles, monitors, results, alerts
    ("PUT", f"{_MP}"): _W,
    ("GET", f"{_MP}"): _R,
    ("PUT", f"{_MP}/importance"): _W,
    ("PUT", f"{API}/monitoring/monitors/{{name}}"): _W,
    ("GET", f"{API}/monitoring/monitors/{{name}}"): _R,
    ("GET", f"{API}/monitoring/monitors"): _R,
    ("POST", f"{API}/monitoring/results"): _W,
    ("GET", f"{API}/monitoring/results"): _R,
    ("GET", f"{API}/monitoring/open-alert"): _R,
    ("POST", f"{API}/monitoring/alerts"): _W,
    ("PATCH", f"{API}/monitoring/alerts/{{alert_id}}"): _W,
    ("GET", f"{API}/monitoring/alerts"): _R,
    # who am I, tokens (self-service: the routes check ownership), users and audit (admins)
    ("GET", f"{API}/whoami"): _R,
    ("POST", f"{API}/tokens"): _R,
    ("GET", f"{API}/tokens"): _R,
    ("DELETE", f"{API}/tokens/{{token_id}}"): _R,
    ("POST", f"{API}/users"): _A,
    ("GET", f"{API}/users"): _A,
    ("GET", f"{API}/audit"): _A,
}


def api_permissions() -> dict[RouteKey, Permission]:
    """The table for the REST API (a copy: the app adds the UI's entries to its own)."""
    return dict(_TABLE)


def allowed(role: Role, needed: Permission) -> bool:
    return needed in GRANTS[role]
