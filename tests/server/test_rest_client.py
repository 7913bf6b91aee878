"""The REST client's session: reads are retried on a dropped kept-alive connection, writes without an
idempotency key never are (tests/server/test_rest_retries.py has the rest); server error bodies
become the same ShipyardError subclasses."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from shipyard.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ShipyardError,
    StorageError,
    UnauthenticatedError,
)
from shipyard.metadata.rest.http import RestSession, error_from_response

_BODY = b'{"ok": true}'
# "Connection: close": the client never reuses a connection this server already closed, so every
# request (and every retry) arrives on a new connection and is counted
_OK = (
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (
        len(_BODY),
        _BODY,
    )
)


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[bytes]]]:
    """Drops every odd connection without answering; answers the even ones."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.1)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        n = 0
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                seen.append(conn.recv(65536))
                if n % 2 == 1:
                    conn.sendall(_OK)
            n += 1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", seen
    stop.set()
    thread.join(timeout=5)
    sock.close()


def test_reads_are_retried_unkeyed_writes_are_not(flaky_server: tuple[str, list[bytes]]) -> None:
    url, seen = flaky_server
    session = RestSession(url, token="shp_" + "t" * 43)
    try:
        assert session.call("GET", "/runs") == {"ok": True}
        assert len(seen) == 2 and seen[0].startswith(b"GET /api/v1/runs")
        assert b"authorization: bearer shp_" in seen[0].lower()
        with pytest.raises(StorageError, match="cannot reach the shipyard server"):
            session.call("PATCH", "/runs/1", {"x": 1})
        assert len(seen) == 3  # sent once, not again
    finally:
        session.close()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (404, "not_found", NotFoundError),
        (409, "conflict", ConflictError),
        (400, "invalid_input", InvalidInputError),
        (401, "unauthenticated", UnauthenticatedError),
        (413, "payload_too_large", InvalidInputError),
        (500, "internal_error", ShipyardError),
    ],
)
def test_error_bodies_map_to_shipyard_errors(status: int, code: str, cls: type[ShipyardError]) -> None:
    request = httpx.Request("GET", "http://x/api/v1/runs/1")
    body = {"error": {"code": code, "message": f"the {code} message"}}
    error = error_from_response(httpx.Response(status, json=body, request=request))
    assert type(error) is cls and error.code == code and str(error) == f"the {code} message"


def test_a_body_that_is_not_an_error_object_still_says_what_happened() -> None:
    request = httpx.Request("GET", "http://x/api/v1/runs/1")
    error = error_from_response(httpx.Response(502, text="<html>bad gateway</html>", request=request))
    assert type(error) is ShipyardError and "HTTP 502" in str(error)
