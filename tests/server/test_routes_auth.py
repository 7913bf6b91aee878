"""Deny by default: every route of the app is in the permission table, and none but the explicitly
public ones answers without a token; a reader cannot write; a route missing from the table is refused."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from starlette.routing import Mount, Route

from shipyard.security.policy import BUILTIN_ROLES
from shipyard.server.app import ServerConfig, create_app
from shipyard.server.permissions import PUBLIC as PUBLIC_RULE
from tests.server.live import LiveServer, live_server

# the OIDC exchange takes a CI job's ID token as its credential (verified by the route, audited)
PUBLIC = {("GET", "/health"), ("POST", "/api/v1/auth/oidc/exchange")}
_SAMPLE = {"digest": "0" * 64, "version": "1"}


def _concrete(template: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: _SAMPLE.get(m.group(1), "x"), template)


_MLFLOW_CODES = {"UNAUTHENTICATED": "unauthenticated", "PERMISSION_DENIED": "permission_denied"}


def _code(response: httpx.Response) -> str:
    """The error code of an answer: shipyard's shape, or MLflow's on the MLflow API's paths."""
    body = response.json()
    if "error_code" in body:
        return _MLFLOW_CODES.get(body["error_code"], body["error_code"])
    return str(body["error"]["code"])


def _routes(app: object) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            found.append(("GET", route.path))
            continue
        assert isinstance(route, Route), f"unexpected route type {type(route).__name__}"
        for method in sorted(route.methods or ()):
            if method == "HEAD" and "GET" in (route.methods or ()):
                continue  # Starlette adds HEAD to GET routes; it shares the GET permission
            found.append((method, route.path))
    return found


def test_every_route_is_in_the_permission_table(server: LiveServer) -> None:
    app = create_app(server.settings, server.stores)
    table = app.state.permissions
    routes = _routes(app)
    assert len(routes) > 50
    mlflow = {r for r in routes if "/2.0/mlflow" in r[1]}
    assert len(mlflow) >= 2 * 29, "the MLflow API under /api/2.0 and /ajax-api/2.0"
    missing = [r for r in routes if r not in table]
    assert missing == [], f"routes missing from the permission table: {missing}"
    public = {r for r in routes if table[r].permission == PUBLIC_RULE}
    ui_public = {r for r in public if not r[1].startswith(("/api/", "/health", "/docs", "/openapi"))}
    assert public - ui_public == PUBLIC


def test_no_route_answers_without_a_token(server: LiveServer, anon: httpx.Client) -> None:
    app = create_app(server.settings, server.stores)
    table = app.state.permissions
    for method, template in _routes(app):
        if table[(method, template)].permission == PUBLIC_RULE:
            continue
        path = _concrete(template)
        response = anon.request(method, path, json={} if method in ("POST", "PUT", "PATCH") else None)
        assert response.status_code == 401, f"{method} {path} answered {response.status_code} without a token"
        if method != "HEAD":  # HEAD answers carry no body
            assert _code(response) == "unauthenticated"
        bad = anon.request(method, path, headers={"Authorization": "Bearer shp_" + "x" * 43})
        assert bad.status_code == 401, f"{method} {path} accepted an unknown token"
    assert anon.get("/health").json() == {"status": "ok"}


def test_a_viewer_is_refused_every_route_its_role_lacks(server: LiveServer, admin: httpx.Client) -> None:
    admin.post("/api/v1/users", json={"name": "rita", "role": "viewer"}).raise_for_status()
    made = admin.post("/api/v1/tokens", json={"name": "r", "user": "rita"})
    assert made.status_code == 201
    reader = {"Authorization": f"Bearer {made.json()['token']}"}
    app = create_app(server.settings, server.stores)
    with httpx.Client(base_url=server.url, headers=reader) as client:
        assert set(client.get("/api/v1/whoami").json()["permissions"]) == BUILTIN_ROLES["viewer"]
        refused = 0
        for (method, template), rule in app.state.permissions.items():
            if rule.permission in BUILTIN_ROLES["admin"] - BUILTIN_ROLES["viewer"]:
                refused += 1
                response = client.request(method, _concrete(template), json={})
                assert response.status_code == 403, f"reader could {method} {template}"
                if method != "HEAD":
                    assert _code(response) == "permission_denied"
        assert refused > 30


def test_a_route_missing_from_the_table_is_refused(tmp_path: Path) -> None:
    with live_server(tmp_path, ServerConfig()) as server:
        app = create_app(server.settings, server.stores)
        extra = APIRouter()

        @extra.get("/api/v1/forgotten")
        def forgotten() -> dict[str, str]:
            return {"secret": "leaked"}

        app.router.routes.extend(extra.routes)
        import threading
        import time

        import uvicorn

        from tests.server.live import free_port

        port = free_port()
        uv = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=uv.run, daemon=True)
        thread.start()
        while not uv.started:
            time.sleep(0.01)
        try:
            got = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/forgotten",
                headers={"Authorization": f"Bearer {server.token}"},
            )
        finally:
            uv.should_exit = True
            thread.join()
    assert got.status_code == 403
    assert "permission table" in got.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/runs/x/nothing"])
def test_unknown_paths_need_a_token_too(anon: httpx.Client, admin: httpx.Client, path: str) -> None:
    assert anon.get(path).status_code == 401
    assert admin.get(path).status_code == 404
    assert admin.get(path).json()["error"]["code"] == "not_found"


def test_openapi_describes_the_api(admin: httpx.Client) -> None:
    schema = admin.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/runs/{run_id}/metrics" in paths and "/api/v1/blobs/sha256/{digest}" in paths
    body = paths["/api/v1/runs/{run_id}/metrics"]["post"]["requestBody"]["content"]["application/json"]
    assert "metrics" in str(body)
    docs = admin.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
