"""Prefix dispatch for the app's router: a request whose path starts with one of a few prefixes
(MLflow's ``/api/2.0/mlflow``, ``/ajax-api/2.0/mlflow``) is matched against only the routes that
could serve such a path, instead of walking every route of the app first (the native API's ~150
patterns sit before MLflow's; each costs a regex match on every MLflow request).

Nothing else changes: ``app.routes`` still lists every route (the guard, the permission table's
coverage test and the OpenAPI documents read them there), and the routes kept for a prefix are
exactly those whose pattern can match a path under it, in the app's order, so the first match,
the partial (405) match and the trailing-slash redirect are the ones the full walk finds. A plain
route is left out only when its template's literal head rules the prefix out; any other kind of
route (a mount, a host) is always kept.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.routing import BaseRoute, Router
    from starlette.types import ASGIApp, Receive, Scope, Send


def may_serve(route: BaseRoute, prefixes: tuple[str, ...]) -> bool:
    """Whether ``route`` could match some path that starts with one of ``prefixes``."""
    from starlette.routing import Route

    if not isinstance(route, Route):
        return True  # mounts, hosts, websockets: kept, whatever they match
    path = route.path
    if "{" not in path:  # a literal pattern matches exactly its path
        return path.startswith(prefixes)
    head = path.split("{", 1)[0]  # a parameter may match any text from here on
    return head.startswith(prefixes) or any(p.startswith(head) for p in prefixes)


class PrefixDispatch:
    """The router's ASGI entry: HTTP requests under ``prefixes`` are routed by a view of the router
    that holds only the routes that may serve them (:func:`may_serve`); everything else (other
    paths, websockets, lifespan) goes through the router as before. The view is rebuilt when the
    router's route list changes."""

    def __init__(self, router: Router, prefixes: tuple[str, ...]) -> None:
        self.router = router
        self.prefixes = prefixes
        self.inner: ASGIApp = router.middleware_stack
        self._held: tuple[list[BaseRoute], int, Router] | None = None

    def view(self) -> Router:
        routes = self.router.routes
        held = self._held
        if held is None or held[0] is not routes or held[1] != len(routes):
            view = copy.copy(self.router)  # the same settings (default answer, slashes, limits)
            view.routes = [r for r in routes if may_serve(r, self.prefixes)]
            held = self._held = (routes, len(routes), view)
        return held[2]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            from starlette._utils import get_route_path

            if get_route_path(scope).startswith(self.prefixes):
                scope.setdefault("router", self.router)  # url_for sees every route
                await self.view().app(scope, receive, send)
                return
        await self.inner(scope, receive, send)


def install_prefix_dispatch(app: Any, prefixes: tuple[str, ...]) -> PrefixDispatch:
    """Route requests under ``prefixes`` through :class:`PrefixDispatch` (after the routes are
    added). The router must have no middleware of its own (the view would bypass it)."""
    router: Router = app.router
    if getattr(router.middleware_stack, "__func__", None) is not type(router).app:
        raise RuntimeError("prefix dispatch needs a router without router-level middleware")
    dispatch = PrefixDispatch(router, prefixes)
    router.middleware_stack = dispatch
    return dispatch
