"""The OpenAPI document of the team server, with every error answer each route can give.

FastAPI documents a route's success answer (its 422 is dropped: a request off the schema answers
400 ``invalid_input``, like a value the domain refuses); the other errors come from the guard
(:mod:`shipyard.server.auth`), the error handlers and the stores, the same way for every route.
:func:`document_errors` derives them in one place from what decides them — the permission table
(:mod:`shipyard.server.permissions`), the method and whether the route takes parameters — rather
than from a list kept by hand per route:

==========================  ======================================================================
every route                 400 a parameter or body off the schema, a non-canonical path, 414
                            request line too long, 421 Host not answered, 429 too many failed
                            authentications
a route with a Rule that    401 no valid token, 403 permission (or the route's own ownership
is not ``public``           checks), 404 an object named by the path, the body or the query is
                            missing (or hidden in a private project), 503 the database is
                            unavailable
a mutation                  409 conflict (exists, write-once, protected), 413 body too large,
                            415 body not JSON, 507 the server's storage is full
a POST                      422 an ``Idempotency-Key`` reused for another request
                            (:func:`shipyard.server.idempotency.document`)
==========================  ======================================================================

Every error answer has the body ``{"error": {"code", "message"}}`` (schema ``Error``); a HEAD
answer has no body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.server.permissions import PUBLIC, RouteKey, Rule, required_rule

if TYPE_CHECKING:
    from fastapi import FastAPI

_MUTATIONS = frozenset({"post", "put", "patch", "delete"})
_ERROR_SCHEMA: dict[str, Any] = {
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
_REASONS = {
    400: "Invalid input: a body or parameter off the schema, a value the domain refuses, or a "
    "non-canonical path",
    401: "Missing, invalid, expired or revoked token",
    403: "Permission denied",
    404: "Not found (or hidden from the caller)",
    409: "Conflict with the stored state",
    413: "Request body too large",
    414: "Request URI too long",
    415: "Unsupported media type",
    421: "The Host header names a host this server does not answer",
    429: "Too many failed authentications; see Retry-After",
    503: "Storage unavailable; retry later",
    507: "Insufficient storage",
}


def error_codes(method: str, rule: Rule | None) -> set[int]:
    """The error statuses a route answers (see the module doc for why each)."""
    codes = {400, 414, 421, 429}
    if rule is None or rule.permission != PUBLIC:
        codes |= {401, 403, 404, 503}
    if method in _MUTATIONS:
        codes |= {409, 413, 415, 507}
    return codes


def document_errors(schema: dict[str, Any], permissions: dict[RouteKey, Rule]) -> dict[str, Any]:
    """Add the ``Error`` component and every route's error answers to ``schema`` (in place)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "head", "post", "put", "patch", "delete"}:
                continue
            rule = required_rule(permissions, method.upper(), path)
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's: answered 400 here (server/errors.py)
            for code in sorted(error_codes(method, rule)):
                answer = responses.setdefault(str(code), {})
                answer["description"] = _REASONS[code]
                if method == "head":
                    answer.pop("content", None)
                else:
                    answer["content"] = error_content
    schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """``app.openapi()`` answers the document with :func:`document_errors` applied (built once)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = document_errors(schema, app.state.permissions)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
