"""Every error answers ``{"error": {"code": ..., "message": ...}}``; never a stack trace.

Status codes come from :data:`shipyard.core.errors.HTTP_STATUS`. Request bodies that are not valid
JSON, or parameters and bodies that do not match the route's schema, answer **400** ``invalid_input``
like the values the domain rejects (a bad name, a bad filter), with one line in the words of the
check the code applies (:func:`shipyard.server.contract.pattern_refusal`). Unexpected failures
are logged with their traceback on the server and answer 500 with a generic message.

A backend that is down or not answering in time (``storage_error``: the database stopped, frozen
past ``Settings.db_timeout_s``, or its pool exhausted) answers **503** with ``Retry-After``; the
server needs no restart when it comes back. A full disk answers **507** ``insufficient_storage``.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from shipyard.core.errors import HTTP_STATUS, ShipyardError
from shipyard.server.contract import pattern_refusal

log = logging.getLogger("shipyard.server")

_HTTP_CODES = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    503: "storage_error",
}


RETRY_AFTER_S = 5  # what a 503 tells clients to wait before trying again


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    import orjson

    if status == 503 and code != "not_configured":  # a wait does not configure the server
        headers = {"Retry-After": str(RETRY_AFTER_S), **(headers or {})}
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_bytes(code: str, message: str) -> bytes:
    import orjson

    return orjson.dumps({"error": {"code": code, "message": message}})


def _kind(request: Request, loc: tuple[Any, ...]) -> str:
    """What a refused value names: a path's ``{name}`` is the object before it (``/models/x``: the
    model); a body or query field is its own name."""
    fields = [str(p) for p in loc[1:] if isinstance(p, str)]
    field = fields[-1] if fields else "value"
    if field == "name":  # the object the path names: /models/{name} or POST /models (a model)
        segments = request.url.path.split("/")
        value = request.path_params.get(field) if loc[:1] == ("path",) else None
        for before, segment in itertools.pairwise(segments):
            if before.endswith("s") and unquote(segment) == value:
                return before[:-1].replace("-", " ")
        if value is None and segments[-1].endswith("s"):
            return segments[-1][:-1].replace("-", " ")
    return field.replace("_", " ")


def _one_error(request: Request, err: dict[str, Any]) -> str:
    """One validation error as one line that names the field, what is wrong and how to fix it."""
    loc = tuple(err.get("loc", ()))
    where = ".".join(str(p) for p in loc if p != "body") or "the body"
    kind, kind_of = err.get("type", ""), _kind(request, loc)
    ctx, value = err.get("ctx") or {}, err.get("input")
    if kind == "string_pattern_mismatch":
        return pattern_refusal(str(ctx.get("pattern", "")), kind_of, value)  # names what it checks
    if kind == "missing":
        return f"{where} is required; send it"
    if kind == "extra_forbidden":
        return f"{where} is not a field of this request; remove it (see /docs for the schema)"
    if kind == "json_invalid":
        return f"the body is not valid JSON ({ctx.get('error', 'parse error')}); send a JSON document"
    if kind == "value_error":
        return f"{where}: " + str(err.get("msg", "")).removeprefix("Value error, ")
    unit = "characters" if kind.startswith("string") else "items"
    if kind in {"string_too_long", "too_long"}:
        return f"{where} is longer than {ctx.get('max_length')} {unit}; shorten it"
    if kind in {"string_too_short", "too_short"} and ctx.get("min_length") == 1:
        return f"{where} must not be empty"
    if kind in {"string_too_short", "too_short"}:
        return f"{where} needs at least {ctx.get('min_length')} {unit}"
    bound = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}
    if kind in bound:
        limit = next(iter(ctx.values()), "")
        return f"{where} must be {bound[kind]} {limit}, got {str(value)[:40]}"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {msg} (got {type(value).__name__}); see /docs for the schema"


def _validation_message(request: Request, exc: RequestValidationError) -> str:
    errors = exc.errors()
    first = _one_error(request, errors[0]) if errors else "the request does not match its schema"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return (first + more).replace("\n", " ")


def install_error_handlers(app: FastAPI) -> None:
    async def on_shipyard(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ShipyardError)
        status = HTTP_STATUS.get(exc.code, 500)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        message = exc.message
        principal = request.scope.get("state", {}).get("principal")
        if status == 403 and principal is not None:  # a narrowed token says what it is limited to
            from shipyard.server.auth import with_narrowing

            message = with_narrowing(message, principal.access)
        return error_response(status, exc.code, message)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, "invalid_input", _validation_message(request, exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "internal server error; the server log has the details")

    app.add_exception_handler(ShipyardError, on_shipyard)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
