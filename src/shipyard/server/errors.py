"""Every error answers ``{"error": {"code": ..., "message": ...}}``; never a stack trace.

Status codes come from :data:`shipyard.core.errors.HTTP_STATUS`. Request bodies that are not valid
JSON, or that do not match the route's schema, answer **422** with code ``invalid_input``; values
the domain rejects (a bad name, a bad filter) answer 400 with the same code. Unexpected failures
are logged with their traceback on the server and answer 500 with a generic message.

A backend that is down or not answering in time (``storage_error``: the database stopped, frozen
past ``Settings.db_timeout_s``, or its pool exhausted) answers **503** with ``Retry-After``; the
server needs no restart when it comes back. A full disk answers **507** ``insufficient_storage``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from shipyard.core.errors import HTTP_STATUS, ShipyardError

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

    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_S), **(headers or {})}
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_bytes(code: str, message: str) -> bytes:
    import orjson

    return orjson.dumps({"error": {"code": code, "message": message}})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    async def on_shipyard(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ShipyardError)
        status = HTTP_STATUS.get(exc.code, 500)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return error_response(status, exc.code, exc.message)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, "invalid_input", _validation_message(exc))

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
