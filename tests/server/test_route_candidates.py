"""The guard's per-path route candidates: the same answer as trying every route, in order."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from shipyard.server import route_match


def _ok(_: Any) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _app() -> Starlette:
    return Starlette(
        routes=[
            Route("/a/{x}", _ok, methods=["GET"]),
            Route("/a/b", _ok, methods=["POST"]),
            Route("/c", _ok, methods=["GET"]),
            Mount("/m", routes=[Route("/inner", _ok)]),
        ]
    )


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def test_first_full_match_wins_as_without_the_cache() -> None:
    app = _app()
    for _ in range(2):  # the second round answers from the remembered candidates
        assert route_match.match_route(app, _scope("GET", "/a/b")) == ("/a/{x}", True, {"x": "b"})
        assert route_match.match_route(app, _scope("POST", "/a/b")) == ("/a/b", True, {})
        assert route_match.match_route(app, _scope("DELETE", "/a/b")) == ("/a/{x}", False, {})
        assert route_match.match_route(app, _scope("GET", "/m/inner")) == ("/m", True, {})
        assert route_match.match_route(app, _scope("GET", "/nothing")) == (None, False, {})


def test_candidates_keep_order_and_other_route_kinds() -> None:
    app = _app()
    paths = [getattr(r, "path", None) for r in route_match.route_candidates(app, _scope("GET", "/a/b"))]
    assert paths == ["/a/{x}", "/a/b", "/m"]  # the mount is always tried; /c cannot match
    assert [getattr(r, "path", None) for r in route_match.route_candidates(app, _scope("GET", "/zz"))] == [
        "/m"
    ]


def test_remembered_paths_are_bounded(monkeypatch: Any) -> None:
    app = _app()
    monkeypatch.setattr(route_match, "_CANDIDATES_MAX", 10)
    for i in range(50):
        route_match.route_candidates(app, _scope("GET", f"/a/{i}"))
    assert len(app.state.route_candidates[2]) <= 10
    assert route_match.match_route(app, _scope("GET", "/a/7")) == ("/a/{x}", True, {"x": "7"})


def test_new_routes_are_seen() -> None:
    app = _app()
    assert route_match.match_route(app, _scope("GET", "/late")) == (None, False, {})
    app.router.routes.append(Route("/late", _ok, methods=["GET"]))
    assert route_match.match_route(app, _scope("GET", "/late")) == ("/late", True, {})
