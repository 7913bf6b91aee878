"""A TCP proxy that resets connections in the middle of a response body, for fault tests.

It forwards every connection to ``upstream`` unchanged, except that the next ``faults`` GET
requests whose request line contains ``marker`` are cut: once ``cut_after`` bytes of their response
(headers included) have been passed on, both sides are reset (RST, as a crashed peer or a middlebox
does). ``cut`` counts the resets done.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], marker: bytes, cut_after: int) -> None:
        self.upstream = upstream
        self.marker = marker
        self.cut_after = cut_after
        self.faults = 0
        self.cut = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _take_fault(self, request: bytes) -> bool:
        line = request.split(b"\r\n", 1)[0]
        if not (line.startswith(b"GET ") and self.marker in line):
            return False
        with self._lock:
            if self.faults <= 0:
                return False
            self.faults -= 1
            return True

    def _serve(self, client: socket.socket) -> None:
        """Pump both directions in one thread (a socket closed here is closed at once: no other
        thread is blocked reading it)."""
        upstream = socket.create_connection(self.upstream)
        armed = False  # the response now flowing belongs to a GET to cut
        passed = 0
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            try:
                while True:
                    for key, _ in selector.select():
                        source, dest = key.fileobj, key.data
                        data = source.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            raise EOFError
                        if source is client:
                            armed = armed or self._take_fault(data)
                        elif armed:
                            room = self.cut_after - passed
                            if len(data) >= room:
                                client.sendall(data[:room])
                                self._reset(client, upstream)
                                return
                            passed += len(data)
                        dest.sendall(data)
            except (OSError, EOFError):
                pass
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.close()

    def _reset(self, *socks: socket.socket) -> None:
        with self._lock:
            self.cut += 1
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()


@contextmanager
def fault_proxy(upstream_url: str, marker: bytes, cut_after: int) -> Iterator[FaultProxy]:
    host, _, port = upstream_url.removeprefix("http://").partition(":")
    proxy = FaultProxy((host, int(port)), marker, cut_after)
    try:
        yield proxy
    finally:
        proxy.close()
