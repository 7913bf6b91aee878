"""The serving app's HTTP contract beyond its routes: which error statuses each route can answer
(stated in the OpenAPI document with the error schema and their headers), ``OPTIONS``, and the
``Allow`` header of 405 answers.

Every operation documents the statuses it can give, each with the ``{"error": {"code", "message"}}``
body: 400 (a malformed request, answered by the HTTP server), 404, 405 (with ``Allow``), 421 (a
``Host`` the service does not answer); behind a token 401 (``WWW-Authenticate``), 403, 429 and 503
(``Retry-After``); past the admission gate 503 (``Retry-After``); with a body (``POST``) 413, 415 and
422; ``/predict`` also 500 and 504, ``/feedback`` 409. ``OPTIONS`` on any route answers 204 with
``Allow`` (the route's methods; it needs a token like the route itself), and so does every 405.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.responses import Response

_DESCRIPTIONS = {
    400: "malformed HTTP request (answered by the HTTP server)",
    401: "no or invalid token",
    403: "the token may not do this (/feedback needs a writer)",
    404: "no such path",
    405: "method not allowed (Allow lists the route's methods)",
    409: "this deployment writes no prediction log",
    413: "body too large",
    415: "not application/json",
    421: "a Host header this service does not answer",
    422: "the body does not match the schema (the message names the column)",
    429: "too many failed authentications from this client or for this token (see Retry-After)",
    500: "the model failed",
    503: "not ready, overloaded, or tokens cannot be checked now (see Retry-After)",
    504: "the model did not answer in time",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
    405: {"Allow": {"required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 0}}},
    503: {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 0}}},
}
_ROUTE_STATUSES = {("post", "/predict"): {500, 504}, ("post", "/feedback"): {409}}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def error_statuses(method: str, path: str, *, guarded: bool, gated: bool) -> set[int]:
    """The error statuses ``method path`` can answer."""
    statuses = {400, 404, 405, 421} | _ROUTE_STATUSES.get((method, path), set())
    if guarded:
        statuses |= {401, 403, 429, 503}
    if gated or path == "/ready":
        statuses.add(503)
    if method in ("post", "put", "patch"):
        statuses |= {413, 415, 422}
    return statuses


def document_errors(
    schema: dict[str, Any], *, auth: bool, open_paths: frozenset[str], exempt: frozenset[str]
) -> None:
    """Add each operation's error responses (status, error schema, headers) to ``schema``."""
    schema.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            guarded = auth and path not in open_paths
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(method, path, guarded=guarded, gated=path not in exempt)):
                entry: dict[str, Any] = {"description": _DESCRIPTIONS[status]}
                if status != 400:  # the HTTP server's own answer is not ours to shape
                    entry["content"] = {"application/json": {"schema": ref}}
                if status in _HEADERS:
                    entry["headers"] = _HEADERS[status]
                responses[str(status)] = entry


def route_methods(app: FastAPI) -> dict[str, str]:
    """Path -> its ``Allow`` value (the routes' methods, ``HEAD`` with ``GET``, and ``OPTIONS``)."""
    methods: dict[str, set[str]] = {}
    for route in app.routes:
        path = getattr(route, "path", None)
        verbs = getattr(route, "methods", None)
        if path is not None and verbs:
            methods.setdefault(path, {"OPTIONS"}).update(verbs)
    return {path: ", ".join(sorted(verbs)) for path, verbs in methods.items()}


def install_methods(app: FastAPI) -> dict[str, str]:
    """``OPTIONS`` on every route (204 with ``Allow``); returns the ``Allow`` values for 405s."""
    from starlette.responses import Response
    from starlette.routing import Route

    allow = route_methods(app)

    def options_for(value: str) -> Any:
        async def options(request: Request) -> Response:
            return Response(status_code=204, headers={"Allow": value})

        return options

    for path, value in allow.items():
        app.router.routes.append(
            Route(path, options_for(value), methods=["OPTIONS"], include_in_schema=False)
        )
    return allow
