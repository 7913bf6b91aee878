"""The HTTP session of the REST backends: one kept-alive httpx connection pool, the bearer token,
orjson bodies, and server errors turned back into the same :class:`ShipyardError` subclasses.

Retries: a request that is safe to send again — a GET/HEAD, or a POST, which always carries an
``Idempotency-Key`` (one per logical write, the same on every attempt, so the server applies it
once and answers a retry with the stored response) — is retried on a dropped or refused connection
and on 503 (honouring ``Retry-After``), with exponential backoff, at most ``retries`` times.
"""

from __future__ import annotations

import functools
import random
import time
import uuid
from collections.abc import Iterator
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


def _not_configured(response: httpx.Response) -> bool:
    """A 503 that waiting does not fix: the server lacks a setting (no Retry-After, code not_configured)."""
    return "retry-after" not in response.headers and b'"not_configured"' in response.content[:200]


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


RETRY_METHODS = frozenset({"GET", "HEAD", "POST"})  # POSTs carry an Idempotency-Key
_RETRY_ERRORS = (httpx.NetworkError, httpx.RemoteProtocolError)  # dropped/refused; not timeouts


class RestSession:
    """Thread-safe; one per store. ``token`` goes in ``Authorization: Bearer``. Safe requests are
    retried up to ``retries`` times (see the module doc), waiting ``backoff_s``, doubling, at most
    ``max_wait_s`` between attempts."""

    def __init__(
        self,
        uri: str,
        token: str | None,
        timeout_s: float = 60.0,
        *,
        retries: int = 4,
        backoff_s: float = 0.2,
        max_wait_s: float = 5.0,
        branch: str | None = None,
    ) -> None:
        self.base_url = check_base_url(uri)
        self.branch = branch
        self.retries, self.backoff_s, self.max_wait_s = retries, backoff_s, max_wait_s
        headers = {"Accept": "application/json", "User-Agent": "shipyard"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if branch:  # the server lets this session write only the branch's objects
            headers["X-Shipyard-Branch"] = branch
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
        headers = {"Content-Type": "application/json"} if content is not None else {}
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex  # one logical write: the same on retries
        response = self._send_with_retries(method, path, content, params, headers)
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        return orjson.loads(response.content)

    def fetch(self, path: str, params: Any = None) -> httpx.Response:
        """A GET whose answer is not JSON (Arrow, Parquet): the response, or the server's error raised."""
        response = self._send_with_retries("GET", path, None, params, {"Accept": "*/*"})
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def stream(self, path: str, params: Any = None) -> Iterator[bytes]:
        """A GET whose (large, not JSON) answer is read chunk by chunk as the caller consumes it;
        the server's error is raised before the first chunk. Connecting is retried like
        :meth:`fetch`; a body cut off midway is an error (no resuming)."""
        attempt = 0
        while True:
            try:
                context = self.client.stream("GET", path, params=params, headers={"Accept": "*/*"})
                response = context.__enter__()
            except _RETRY_ERRORS as exc:
                if attempt >= self.retries:
                    raise self._unreachable(exc) from None
                wait = self._backoff(attempt, None)
            except httpx.TransportError as exc:
                raise self._unreachable(exc) from None
            else:
                if response.status_code != 503 or attempt >= self.retries or _not_configured(response):
                    break
                wait = self._backoff(attempt, response.headers.get("retry-after"))
                context.__exit__(None, None, None)
            attempt += 1
            time.sleep(wait)
        if response.status_code >= 400:
            response.read()
            context.__exit__(None, None, None)
            raise error_from_response(response)
        return self._chunks(context, response)

    def _chunks(self, context: Any, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes()
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        finally:
            context.__exit__(None, None, None)

    def _send_with_retries(
        self, method: str, path: str, content: bytes | None, params: Any, headers: dict[str, str]
    ) -> httpx.Response:
        retries = self.retries if method in RETRY_METHODS else 0
        attempt = 0
        while True:
            try:
                response = self.client.request(method, path, content=content, params=params, headers=headers)
            except _RETRY_ERRORS as exc:
                if attempt >= retries:
                    raise self._unreachable(exc) from None
                wait = self._backoff(attempt, None)
            except httpx.TransportError as exc:
                raise self._unreachable(exc) from None
            else:
                if response.status_code != 503 or attempt >= retries or _not_configured(response):
                    return response
                wait = self._backoff(attempt, response.headers.get("retry-after"))
            attempt += 1
            time.sleep(wait)

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_wait_s)
        base = self.backoff_s * (2**attempt)
        return float(min(base * (0.5 + random.random() / 2), self.max_wait_s))

    def _unreachable(self, exc: Exception) -> StorageError:
        return StorageError(
            f"cannot reach the shipyard server at {self.base_url}: {exc}; check SHIPYARD_URI and that "
            "`shipyard server` is running"
        )
