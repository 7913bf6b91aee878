"""Prefix dispatch (server/prefix_dispatch.py): MLflow requests are routed among the routes that
may serve them only, with the same answers as the router's walk over every route."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Match, Mount, Route

from shipyard.core.settings import load_settings
from shipyard.server.app import ServerConfig, create_app
from shipyard.server.mlflow.errors import MLFLOW_PREFIXES
from shipyard.server.prefix_dispatch import PrefixDispatch, install_prefix_dispatch, may_serve
from shipyard.tracking.stores import open_stores

PREFIXES = ("/p/x",)


class _Client:
    """Requests straight into the ASGI app (no server, no lifespan)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                return await client.request(method, path, **kw)

        return asyncio.run(send())

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)


def _ok(_: Any) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _named(name: str) -> Any:
    def endpoint(_: Any) -> PlainTextResponse:
        return PlainTextResponse(name)

    return endpoint


def test_may_serve_keeps_exactly_the_routes_that_can_match_under_the_prefix() -> None:
    assert may_serve(Route("/p/x/runs", _ok), PREFIXES)
    assert may_serve(Route("/p/x", _ok), PREFIXES)
    assert may_serve(Route("/p/xy/{a}", _ok), PREFIXES)
    assert may_serve(Route("/p/{a}/runs", _ok), PREFIXES)  # {a} may be "x"
    assert may_serve(Route("/{a:path}", _ok), PREFIXES)
    assert may_serve(Mount("/q", routes=[]), PREFIXES)  # other kinds: always kept
    assert not may_serve(Route("/p", _ok), PREFIXES)
    assert not may_serve(Route("/p/y/{a}", _ok), PREFIXES)
    assert not may_serve(Route("/q/{a:path}", _ok), PREFIXES)


def _app() -> FastAPI:
    app = FastAPI()
    app.router.routes.extend(
        [
            Route("/other/{a}", _named("other"), methods=["GET"]),
            Route("/p/{a}/one", _named("param-first"), methods=["GET"]),
            Route("/p/x/one", _named("literal"), methods=["GET", "POST"]),
            Route("/p/x/two/", _named("slash"), methods=["GET"]),
            Route("/p/x/put", _named("put"), methods=["PUT"]),
        ]
    )
    install_prefix_dispatch(app, PREFIXES)
    return app


def test_answers_equal_the_full_walk() -> None:
    client = _Client(_app())
    assert client.get("/p/x/one").text == "param-first"  # the app's order: first match wins
    assert client.post("/p/x/one").text == "literal"
    assert client.get("/p/x/put").status_code == 405  # the partial match answers
    answer = client.get("/p/x/two")
    assert answer.status_code == 307
    assert answer.headers["location"].endswith("/p/x/two/")
    assert client.get("/p/x/none").status_code == 404
    assert client.get("/other/1").text == "other"


def test_routes_added_later_are_seen() -> None:
    app = _app()
    client = _Client(app)
    assert client.get("/p/x/late").status_code == 404
    app.router.routes.append(Route("/p/x/late", _named("late"), methods=["GET"]))
    assert client.get("/p/x/late").text == "late"


def test_a_router_with_its_own_middleware_is_refused() -> None:
    app = FastAPI()
    app.router.middleware_stack = PrefixDispatch(app.router, PREFIXES)  # not the router's own app
    with pytest.raises(RuntimeError, match="router-level middleware"):
        install_prefix_dispatch(app, PREFIXES)


@pytest.fixture
def server_app(tmp_path: Path) -> Any:
    stores = open_stores(load_settings(home=tmp_path))
    try:
        yield create_app(stores.settings, stores, config=ServerConfig(auth=False))
    finally:
        stores.close()


def _is_mlflow(route: BaseRoute) -> bool:
    return str(getattr(route, "path", "")).startswith(MLFLOW_PREFIXES)


def test_mlflow_requests_skip_the_native_routes(server_app: FastAPI, monkeypatch: Any) -> None:
    """The router never tries a native route's pattern for an MLflow path (the guard's own
    candidates never held them: their patterns do not match)."""
    native = [r for r in server_app.routes if isinstance(r, Route) and not _is_mlflow(r)]
    assert len(native) > 100
    tried: list[str] = []
    for route in native:
        original = route.matches

        def spy(scope: Any, _orig: Any = original, _path: str = route.path) -> tuple[Match, Any]:
            tried.append(_path)
            return _orig(scope)

        monkeypatch.setattr(route, "matches", spy)
    client = _Client(server_app)
    answer = client.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["experiment"]["name"] == "Default"
    missing = client.get("/api/2.0/mlflow/experiments/nothing")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    assert tried == []
    client.get("/api/v1/runs")
    assert tried  # a native path still walks the native routes


def test_the_view_holds_every_mlflow_route_in_order(server_app: FastAPI) -> None:
    dispatch = server_app.router.middleware_stack
    assert isinstance(dispatch, PrefixDispatch)
    view = dispatch.view().routes
    assert view == [r for r in server_app.routes if _is_mlflow(r)]
    assert len(view) > 100
    assert len(server_app.routes) > len(view)  # app.routes still lists every route
