"""Errors in MLflow's shape: ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": ...}`` with
MLflow's status codes, so the MLflow client raises its usual exceptions.

Routes and the guard raise and answer shipyard's errors as everywhere else (one error model);
:class:`MlflowErrorShape`, an ASGI middleware just inside the HTTP metrics, rewrites the JSON error
answers of MLflow paths only (``/api/2.0/mlflow...``, ``/ajax-api/2.0/mlflow...``): the body is
small and buffered, every other answer streams through untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
_MAX_ERROR_BODY = 64 * 1024

#: shipyard error code -> (MLflow error code, HTTP status), as MLflow's own server answers them
CODES: dict[str, tuple[str, int]] = {
    "invalid_input": ("INVALID_PARAMETER_VALUE", 400),
    "not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "already_exists": ("RESOURCE_ALREADY_EXISTS", 400),
    # params are write-once in shipyard as in MLflow, which answers INVALID_PARAMETER_VALUE
    "conflict": ("INVALID_PARAMETER_VALUE", 400),
    "permission_denied": ("PERMISSION_DENIED", 403),
    "unauthenticated": ("UNAUTHENTICATED", 401),
    "method_not_allowed": ("ENDPOINT_NOT_FOUND", 405),
    "payload_too_large": ("INVALID_PARAMETER_VALUE", 413),
    "unsupported_media_type": ("INVALID_PARAMETER_VALUE", 415),
    "storage_error": ("TEMPORARILY_UNAVAILABLE", 503),
    "insufficient_storage": ("RESOURCE_EXHAUSTED", 507),
    "not_implemented": ("NOT_IMPLEMENTED", 501),
}


def mlflow_body(status: int, body: bytes) -> tuple[int, bytes]:
    """The MLflow form of one shipyard error answer (unchanged when it is not one)."""
    import orjson

    try:
        doc: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return status, body
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return status, body
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    mlflow_code, mlflow_status = CODES.get(code, ("INTERNAL_ERROR", status))
    if status == 404 and message == "Not Found":  # no route serves the path
        mlflow_code = "ENDPOINT_NOT_FOUND"
    if status in (413, 415, 405, 429, 421, 414, 507):
        mlflow_status = status  # the HTTP meaning is exact there; keep it
    if code in ("throttled", "too_many_requests") or status == 429:
        mlflow_code = "REQUEST_LIMIT_EXCEEDED"
    return mlflow_status, orjson.dumps({"error_code": mlflow_code, "message": message})


def is_mlflow_path(path: str) -> bool:
    return path.startswith(MLFLOW_PREFIXES)


class MlflowErrorShape:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_mlflow_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []
        done = False

        async def shaping_send(message: Message) -> None:
            nonlocal start, done
            if done:
                return  # the shaped answer went out whole
            if message["type"] == "http.response.start" and int(message["status"]) >= 400 and _json(message):
                start = dict(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(bytes(message.get("body", b"")))
            if message.get("more_body", False) and sum(map(len, chunks)) <= _MAX_ERROR_BODY:
                return
            status, body = mlflow_body(int(start["status"]), b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            done = True

        await self.app(scope, receive, shaping_send)


def _json(message: Message) -> bool:
    for key, value in message.get("headers", []):
        if key.lower() == b"content-type":
            return bytes(value).split(b";")[0].strip() == b"application/json"
    return False
