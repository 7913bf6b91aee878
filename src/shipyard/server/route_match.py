"""Which route of the app serves a request, for the guard (:mod:`shipyard.server.auth`): the
route's path template, whether the method matched, its path parameters; and the ``OPTIONS``/405
answer listing the methods a path serves. Candidates are remembered per path, so a request does not
make the guard try every pattern of the app (hundreds)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Scope

_CANDIDATES_MAX = 1024  # paths remembered per app (cleared when full: ids are unbounded; paths <= 2 KiB)


def route_candidates(app: Any, scope: Scope) -> list[Any]:
    """The app's routes that could match this request's path, in the app's order: a plain route
    whose path pattern does not match the path is left out (it can only answer ``Match.NONE``), any
    other kind of route (mounts, websockets, groups) is always kept. Remembered per path, so a
    request does not make the guard try every pattern of the app (hundreds)."""
    from starlette._utils import get_route_path
    from starlette.routing import Route

    routes = app.routes
    held: tuple[list[Any], int, dict[str, list[Any]]] | None = getattr(app.state, "route_candidates", None)
    if held is None or held[0] is not routes or held[1] != len(routes):  # new app or routes added
        held = (routes, len(routes), {})
        app.state.route_candidates = held
    cache = held[2]
    path: str = get_route_path(scope)
    found = cache.get(path)
    if found is None:
        found = [r for r in routes if not isinstance(r, Route) or r.path_regex.match(path)]
        if len(cache) >= _CANDIDATES_MAX:
            cache.clear()
        cache[path] = found
    return found


def match_route(app: Any, scope: Scope) -> tuple[str | None, bool, dict[str, str]]:
    """(path template of the route serving this request, whether the method matched, its path
    parameters as sent)."""
    from starlette.routing import Match

    partial: str | None = None
    for route in route_candidates(app, scope):
        match, child = route.matches(scope)
        if match == Match.FULL:
            params = {k: str(v) for k, v in child.get("path_params", {}).items()}
            return str(route.path), True, params
        if match == Match.PARTIAL and partial is None:
            partial = str(route.path)
    return partial, False, {}


def methods_response(app: Any, scope: Scope, method: str) -> Response:
    """The answer for a method the path does not serve: ``OPTIONS`` 204, else 405 — both with an
    ``Allow`` header listing every method of the path (its routes are separate, one per method)."""
    from starlette.responses import Response
    from starlette.routing import Match

    from shipyard.server.errors import error_response

    methods = {"OPTIONS"}
    probe = {**scope, "method": "GET"}
    for route in app.routes:
        if getattr(route, "methods", None) and route.matches(probe)[0] != Match.NONE:
            methods |= set(route.methods)
    allow = ", ".join(sorted(methods))
    if method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": allow})
    message = f"{method} is not allowed here; this path answers {allow}"
    return error_response(405, "method_not_allowed", message, headers={"Allow": allow})
