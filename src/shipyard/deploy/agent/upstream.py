"""A small HTTP/1.1 client for the router and the health checks: keep-alive connections to one
backend, pooled, on plain asyncio streams with httptools parsing the answers (the router's whole
cost per request is a parse and two writes; no client library between).

Bodies are read whole (the services answer JSON, bounded by ``max_body``). A request on a pooled
connection that ends before any byte of an answer (the backend closed it meanwhile: an idle
timeout, a restart) is sent again once on a new connection, as HTTP clients do; a connection that
cannot be made is :class:`UpstreamError` with ``retry_safe`` (the backend never saw the request, so
the router may send it to another). Connections idle longer than ``idle_s`` (below the services'
own 30 s keep-alive) are closed rather than reused.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

import httptools

MAX_HEADER_BYTES = 64 * 1024


class UpstreamError(Exception):
    """No answer from the backend. ``retry_safe``: it surely never saw the request (the connection
    was refused); ``timeout``: it did not answer in time."""

    def __init__(self, message: str, *, retry_safe: bool = False, timeout: bool = False) -> None:
        super().__init__(message)
        self.retry_safe = retry_safe
        self.timeout = timeout


class _Stale(Exception):
    """A connection ended before any byte of the answer came."""


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class _Parse:
    """httptools callbacks for one response."""

    max_body: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    header_bytes: int = 0
    headers_done: bool = False
    done: bool = False
    too_big: bool = False
    keep_alive: bool = False
    parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        # asked here, as uvicorn does: once the message is complete llhttp has reset its flags and
        # says False for every answer (the pool then never kept a connection: a connect per request)
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.max_body:
            self.too_big = True
        else:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()
        self.uses = 0

    def usable(self, idle_s: float) -> bool:
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and time.monotonic() - self.idle_since < idle_s
        )

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    async def exchange(
        self, head: bytes, body: bytes, *, head_only: bool, max_body: int
    ) -> tuple[Answer, bool]:
        """Send one request and read its answer: (answer, keep the connection)."""
        self.uses += 1
        self.writer.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.writer.write(body)
        await self.writer.drain()
        parse = _Parse(max_body)
        parser = parse.parser = httptools.HttpResponseParser(parse)
        got = False
        while not parse.done:
            try:
                data = await self.reader.read(65536)
            except ConnectionError:
                data = b""
            if not data:
                if not got:
                    raise _Stale
                raise UpstreamError("the backend closed the connection in the middle of its answer")
            got = True
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise UpstreamError(f"the backend's answer is not valid HTTP: {exc}") from None
            if parse.header_bytes > MAX_HEADER_BYTES:
                raise UpstreamError("the backend's answer headers are too large")
            if parse.too_big:
                raise UpstreamError(f"the backend's answer is over {max_body} bytes")
            if head_only and parse.headers_done:
                break
        answer = Answer(parser.get_status_code(), parse.headers, b"".join(parse.chunks))
        keep = not head_only and parse.done and parse.keep_alive
        self.idle_since = time.monotonic()
        return answer, keep


class UpstreamPool:
    """Keep-alive connections to ``host:port``; at most ``max_idle`` kept between requests."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_idle: int = 64,
        idle_s: float = 20.0,
        connect_timeout: float = 2.0,
        max_body: int = 64 * 1024 * 1024,
    ) -> None:
        self.host = host
        self.port = port
        self.max_idle = max_idle
        self.idle_s = idle_s
        self.connect_timeout = connect_timeout
        self.max_body = max_body
        self._idle: deque[_Connection] = deque()
        self._closed = False

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEADER_BYTES)
        except (OSError, TimeoutError) as exc:
            message = f"cannot connect to {self.host}:{self.port}: {exc or 'timed out'}"
            raise UpstreamError(message, retry_safe=True) from None
        return _Connection(reader, writer)

    def _take(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()  # the most recently used: least likely to have timed out
            if conn.usable(self.idle_s):
                return conn
            conn.close()
        return None

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        *,
        timeout: float = 60.0,
    ) -> Answer:
        """One request; ``headers`` without Content-Length/Connection (added here)."""
        lines = [f"{method} {target} HTTP/1.1\r\n".encode("latin-1")]
        lines += [name + b": " + value + b"\r\n" for name, value in headers]
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            lines.append(b"content-length: %d\r\n" % len(body))
        head = b"".join(lines) + b"\r\n"
        head_only = method == "HEAD"
        conn = self._take()
        if conn is not None:
            try:
                return await self._on(conn, head, body, head_only, timeout)
            except _Stale:
                pass  # a pooled connection the backend had closed: once more on a new one
        try:
            return await self._on(await self._connect(), head, body, head_only, timeout)
        except _Stale:
            raise UpstreamError("the backend closed the connection without answering") from None

    async def _on(
        self, conn: _Connection, head: bytes, body: bytes, head_only: bool, timeout: float
    ) -> Answer:
        keep = False
        try:
            async with asyncio.timeout(timeout):
                answer, keep = await conn.exchange(head, body, head_only=head_only, max_body=self.max_body)
            return answer
        except TimeoutError:
            raise UpstreamError(f"no answer within {timeout:g} s", timeout=True) from None
        except OSError:  # writing failed: no answer came
            raise _Stale from None
        finally:
            if keep and not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
            else:
                conn.close()

    def close(self) -> None:
        """Close the idle connections; those in use close when their request ends."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()


async def get(host: str, port: int, path: str, *, timeout: float = 2.0) -> Answer:
    """One GET on a fresh connection (health checks)."""
    pool = UpstreamPool(host, port, max_idle=0, connect_timeout=timeout, max_body=1024 * 1024)
    try:
        return await pool.request(
            "GET", path, [(b"host", f"{host}:{port}".encode()), (b"connection", b"close")], timeout=timeout
        )
    finally:
        pool.close()
