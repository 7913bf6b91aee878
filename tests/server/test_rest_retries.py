"""The REST client retries what is safe to send again: GETs and POSTs (which carry one
Idempotency-Key per logical write, the same on every attempt) on a dropped connection or a 503,
with backoff and a bounded number of attempts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from shipyard.core.errors import StorageError
from shipyard.metadata.rest.http import RestSession

_BODY = b'{"ok": true}'
_OK = (
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (
        len(_BODY),
        _BODY,
    )
)
_ERR = b'{"error": {"code": "storage_error", "message": "database down"}}'
_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 0\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(_ERR), _ERR)
)


class Scripted:
    """Answers connection ``i`` by ``script[i]`` ("drop": close unanswered, "503", "ok"; past the
    end: "ok") and keeps each request it read."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.seen: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                action = self.script[len(self.seen)] if len(self.seen) < len(self.script) else "ok"
                self.seen.append(conn.recv(65536))
                if action == "503":
                    conn.sendall(_503)
                elif action == "ok":
                    conn.sendall(_OK)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def keys(self) -> list[str]:
        found = []
        for raw in self.seen:
            for line in raw.split(b"\r\n"):
                if line.lower().startswith(b"idempotency-key:"):
                    found.append(line.split(b":", 1)[1].strip().decode())
        return found


@pytest.fixture
def scripted() -> Iterator[type[Scripted]]:
    made: list[Scripted] = []

    class Tracked(Scripted):
        def __init__(self, script: list[str]) -> None:
            super().__init__(script)
            made.append(self)

    yield Tracked
    for server in made:
        server.close()


def _session(url: str, retries: int = 4) -> RestSession:
    return RestSession(url, token="shp_" + "t" * 43, retries=retries, backoff_s=0.01)


def test_get_is_retried_past_dropped_connections_and_503(scripted: type[Scripted]) -> None:
    server = scripted(["drop", "drop", "503"])
    session = _session(server.url)
    try:
        assert session.call("GET", "/runs") == {"ok": True}
    finally:
        session.close()
    assert len(server.seen) == 4


def test_post_is_retried_with_one_idempotency_key(scripted: type[Scripted]) -> None:
    server = scripted(["drop", "503", "ok", "ok"])
    session = _session(server.url)
    try:
        assert session.call("POST", "/runs", {"x": 1}) == {"ok": True}
        assert session.call("POST", "/runs", {"x": 1}) == {"ok": True}
    finally:
        session.close()
    keys = server.keys()
    assert len(keys) == 4
    assert keys[0] == keys[1] == keys[2]  # one logical write, one key on every attempt
    assert keys[3] != keys[0]  # the next write has its own


def test_retries_are_bounded(scripted: type[Scripted]) -> None:
    server = scripted(["drop"] * 10)
    session = _session(server.url, retries=2)
    try:
        with pytest.raises(StorageError, match="cannot reach the shipyard server"):
            session.call("GET", "/runs")
    finally:
        session.close()
    assert len(server.seen) == 3


def test_503_past_the_retries_is_the_server_error(scripted: type[Scripted]) -> None:
    server = scripted(["503"] * 10)
    session = _session(server.url, retries=1)
    try:
        with pytest.raises(StorageError, match="database down"):
            session.call("GET", "/runs")
    finally:
        session.close()
    assert len(server.seen) == 2
