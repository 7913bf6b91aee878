"""A client-side deadline for Postgres calls: a frozen database cannot hang a caller for ever.

``statement_timeout`` and ``lock_timeout`` bound a slow but running database; ``connect_timeout``
bounds a new connection. None of them helps when the database process is frozen (SIGSTOP, a hung
host, a dead NAT entry): the kernel still acknowledges what the client sends, so a query on an open
connection waits for an answer that never comes, and libpq has no client-side timeout.

:class:`Watchdog` watches each statement (and the checkout ping) with a deadline; one daemon thread
shuts down the socket of a connection past its deadline. The blocked call then fails at once with
the driver's "server closed the connection" error, SQLAlchemy invalidates that connection, and the
store answers :class:`~shipyard.core.errors.StorageError` (503 on a server). Nothing else is
touched: the database is free to come back, and the next checkout opens a fresh connection.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


class Watchdog:
    def __init__(self, tick_s: float = 0.1) -> None:
        self._tick = tick_s
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, Any]] = {}  # id(dbapi connection) -> (deadline, conn)
        self._thread: threading.Thread | None = None
        self.fired = 0  # connections shut down so far (tests and logs read it)

    def watch(self, dbapi_conn: Any, seconds: float) -> None:
        with self._lock:
            self._watched[id(dbapi_conn)] = (time.monotonic() + seconds, dbapi_conn)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="shipyard-db-watchdog", daemon=True)
                self._thread.start()

    def release(self, dbapi_conn: Any) -> None:
        with self._lock:
            self._watched.pop(id(dbapi_conn), None)

    @contextlib.contextmanager
    def watching(self, dbapi_conn: Any, seconds: float) -> Iterator[None]:
        self.watch(dbapi_conn, seconds)
        try:
            yield
        finally:
            self.release(dbapi_conn)

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                if not self._watched:
                    self._thread = None
                    return
                late = [key for key, (deadline, _) in self._watched.items() if deadline <= now]
                overdue = [self._watched.pop(key)[1] for key in late]
            for conn in overdue:
                self.fired += 1
                _shut_down(conn)


def _shut_down(dbapi_conn: Any) -> None:
    """Shut the connection's socket down (both ways) without closing the driver's descriptor."""
    try:
        fd = int(dbapi_conn.fileno())
    except Exception:  # already closed or broken: nothing is waiting on it
        return
    try:
        dup = os.dup(fd)
    except OSError:
        return
    try:
        with socket.socket(fileno=dup) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
