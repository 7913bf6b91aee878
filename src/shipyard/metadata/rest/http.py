"""The HTTP session of the REST backends: one kept-alive httpx connection pool, the bearer token,
orjson bodies, and server errors turned back into the same :class:`ShipyardError` subclasses."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from shipyard.core.errors import (
    ConfigurationError,
    InvalidInputError,
    ShipyardError,
    StorageError,
    UnauthenticatedError,
)
from shipyard.metadata.rest.codec import to_wire

API_PREFIX = "/api/v1"
_FALLBACK = {
    401: UnauthenticatedError,
    413: InvalidInputError,
    415: InvalidInputError,
    422: InvalidInputError,
}


@functools.cache
def _error_classes() -> dict[str, type[ShipyardError]]:
    found: dict[str, type[ShipyardError]] = {}
    pending: list[type[ShipyardError]] = [ShipyardError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_from_response(response: httpx.Response) -> ShipyardError:
    """The ShipyardError a server error body names (``{"error": {"code", "message"}}``)."""
    try:
        body = orjson.loads(response.content)
        code, message = str(body["error"]["code"]), str(body["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        code, message = "", f"HTTP {response.status_code} from {response.request.url}"
    cls = _error_classes().get(code) or _FALLBACK.get(response.status_code, ShipyardError)
    error = cls(message)
    if code and error.code != code:
        error.code = code  # keep the server's code (e.g. payload_too_large) on the generic class
    return error


def check_base_url(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"invalid server URI {uri!r}; use http://host:port or https://host")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"server URI {uri!r} must not have a query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def seg(value: str) -> str:
    """One path segment, percent-encoded."""
    return quote(value, safe="")


class RestSession:
    """Thread-safe; one per store. ``token`` goes in ``Authorization: Bearer``."""

    def __init__(self, uri: str, token: str | None, timeout_s: float = 60.0) -> None:
        self.base_url = check_base_url(uri)
        headers = {"Accept": "application/json", "User-Agent": "shipyard"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(
            base_url=self.base_url + API_PREFIX,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        """Send one request; the decoded JSON answer (None for 204), or the server's error raised."""
        content = None if body is None else orjson.dumps(to_wire(body))
        return self.send(method, path, content, params)

    def send(self, method: str, path: str, content: bytes | None, params: Any = None) -> Any:
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            try:
                response = self.client.request(method, path, content=content, params=params, headers=headers)
            except (httpx.RemoteProtocolError, httpx.ConnectError):
                if method not in ("GET", "HEAD"):
                    raise
                # a kept-alive connection the server closed meanwhile: reads are safe to send again
                response = self.client.request(method, path, content=content, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise StorageError(
                f"cannot reach the shipyard server at {self.base_url}: {exc}; check SHIPYARD_URI and that "
                "`shipyard server` is running"
            ) from None
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        return orjson.loads(response.content)
