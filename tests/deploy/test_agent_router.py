"""The router and its upstream pool, against small HTTP backends in the test's event loop: a switch
under concurrent load loses no request and drains the old backend, a refused backend is passed
over, a pooled connection the backend closed is retried, headers are cleaned both ways."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from shipyard.deploy.agent.process import free_port
from shipyard.deploy.agent.router import Router, _QuietServer
from shipyard.deploy.agent.upstream import UpstreamError, UpstreamPool


def in_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test in its own event loop (the suite has no async plugin)."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


@dataclass
class Backend:
    name: str
    delay: float = 0.0
    port: int = 0
    in_flight: int = 0
    served: int = 0
    in_flight_at_stop: list[int] = field(default_factory=list)
    seen_headers: list[dict[str, str]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.in_flight += 1
        try:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.seen_headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
            await asyncio.sleep(self.delay)
            answer = json.dumps({"backend": self.name, "echo": body.decode(), "path": scope["path"]}).encode()
            headers = [(b"content-type", b"application/json"), (b"connection", b"keep-alive"), (b"x-b", b"1")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
            self.served += 1
        finally:
            self.in_flight -= 1


@asynccontextmanager
async def serving(backend: Backend, **options: Any) -> AsyncIterator[Backend]:
    backend.port = free_port()
    config = uvicorn.Config(
        backend, host="127.0.0.1", port=backend.port, lifespan="off", log_level="warning", **options
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield backend
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def routed(*ports: int) -> AsyncIterator[Router]:
    router = Router("t", "127.0.0.1", 0, max_body=1024)
    await router.start()
    router.switch(list(ports))
    try:
        yield router
    finally:
        await router.stop()


@in_loop
async def test_switch_under_load_loses_nothing_and_drains_the_old() -> None:
    async with (
        serving(Backend("old", delay=0.05)) as old,
        serving(Backend("new")) as new,
        routed(old.port) as router,
    ):
        url = f"http://127.0.0.1:{router.port}/predict"
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as client:

            async def one() -> tuple[int, str, float]:
                started = loop.time()
                r = await client.post(url, content=b"1")
                return r.status_code, r.json()["backend"], started

            stop = asyncio.Event()
            loop = asyncio.get_running_loop()

            async def load() -> list[tuple[int, str, float]]:
                sent = []
                while not stop.is_set():
                    sent.append(asyncio.create_task(one()))
                    await asyncio.sleep(0.004)
                return list(await asyncio.gather(*sent))

            running = asyncio.create_task(load())
            await until(lambda: old.served >= 20 and old.in_flight > 0)
            left = router.switch([new.port])  # with requests in flight on the old
            switched = loop.time()
            assert await router.drain(left, 5.0)
            old.in_flight_at_stop.append(old.in_flight)
            await until(lambda: new.served >= 20)
            stop.set()
            results = await running
    assert [status for status, _, _ in results] == [200] * len(results)
    assert old.in_flight_at_stop == [0]  # drained: the old backend had nothing in flight left
    # a request begun after the switch can only reach the router after it: always the new backend.
    # (Among those begun before, the order of arrival is not the order of creation - one waiting
    # for a fresh connection is overtaken by one on an idle pooled connection - so either may answer.)
    after = [name for _, name, started in results if started > switched]
    assert len(after) >= 20 and set(after) == {"new"}, after
    assert old.served + new.served == len(results) and old.served >= 20


async def until(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


@in_loop
async def test_no_backend_is_503_and_a_refused_one_is_passed_over() -> None:
    async with routed() as router, httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{router.port}/x"
        r = await client.get(url)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "unavailable"
        async with serving(Backend("good")) as good:
            router.switch([free_port(), good.port])  # nothing listens on the first
            for _ in range(4):
                r = await client.get(url)
                assert r.status_code == 200 and r.json()["backend"] == "good"
        router.switch([free_port()])
        r = await client.get(url)
        assert r.status_code == 503 and "no backend" in r.json()["error"]["message"]


@in_loop
async def test_headers_are_cleaned_and_the_body_bounded() -> None:
    async with (
        serving(Backend("b")) as backend,
        routed(backend.port) as router,
        httpx.AsyncClient() as client,
    ):
        url = f"http://127.0.0.1:{router.port}/predict?x=1"
        r = await client.post(
            url,
            content=b'{"a": 1}',
            headers={"X-Forwarded-For": "6.6.6.6", "Authorization": "Bearer t", "Keep-Alive": "timeout=5"},
        )
        assert r.status_code == 200 and r.json() == {"backend": "b", "echo": '{"a": 1}', "path": "/predict"}
        seen = backend.seen_headers[-1]
        assert seen["x-forwarded-for"] == "127.0.0.1"  # the client's address, not what it claimed
        assert seen["authorization"] == "Bearer t" and seen["host"] == f"127.0.0.1:{router.port}"
        assert "keep-alive" not in seen
        assert r.headers["x-b"] == "1" and r.headers.get("connection") != "keep-alive"
        assert int(r.headers["content-length"]) == len(r.content)
        big = await client.post(url, content=b"x" * 2048)
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"


@in_loop
async def test_a_pooled_connection_the_backend_closed_is_retried() -> None:
    """The backend answers the first request of each connection and closes the connection when a
    second one arrives, without answering it (as a server whose keep-alive timer fired does)."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = UpstreamPool("127.0.0.1", port)
    try:
        for _ in range(3):
            answer = await pool.request("GET", "/", [(b"host", b"x")])
            assert (answer.status, answer.body) == (200, b"ok")
        assert connections == 3  # each retry opened a new connection
    finally:
        pool.close()
        server.close()
        await server.wait_closed()
    with pytest.raises(UpstreamError) as refused:
        await UpstreamPool("127.0.0.1", free_port()).request("GET", "/", [])
    assert refused.value.retry_safe


@in_loop
async def test_a_backend_that_dies_mid_request_is_502_and_a_slow_one_504() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(5)
        writer.close()

    dying = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    slow = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        async with routed(dying.sockets[0].getsockname()[1]) as router, httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{router.port}/"
            r = await client.get(url)
            assert r.status_code == 502 and r.json()["error"]["code"] == "bad_gateway"
            router.timeout_s = 0.3
            router.switch([slow.sockets[0].getsockname()[1]])
            r = await client.get(url)
            assert r.status_code == 504
            assert router.stats.errors == {502: 1, 504: 1}
    finally:
        for server in (dying, slow):
            server.close()


@in_loop
async def test_the_router_adds_no_nagle_delay() -> None:
    """Its listening socket is TCP to asyncio (so accepted connections get TCP_NODELAY): without
    it, every answer written as headers then body waited ~40 ms for a delayed ACK."""
    import socket
    import statistics
    import time

    async with (
        serving(Backend("b")) as backend,
        routed(backend.port) as router,
        httpx.AsyncClient() as client,
    ):
        assert router._server is not None
        (listening,) = router._server.servers[0].sockets
        assert listening.proto == socket.IPPROTO_TCP
        url = f"http://127.0.0.1:{router.port}/x"
        times = []
        for _ in range(21):
            started = time.perf_counter()
            assert (await client.post(url, content=b"1")).status_code == 200
            times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.03, times


@in_loop
async def test_the_router_reuses_its_connections_to_a_backend() -> None:
    """Keep-alive is read when an answer's headers end (llhttp forgets it once the message is
    complete): 50 requests from one client through the router use one backend connection."""
    async with serving(Backend("a")) as backend, routed(backend.port) as router:
        connects = 0
        [target] = router.targets
        real = target.pool._connect

        async def counted() -> Any:
            nonlocal connects
            connects += 1
            return await real()

        target.pool._connect = counted  # type: ignore[method-assign]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{router.port}") as client:
            for i in range(50):
                answer = await client.post("/p", content=str(i))
                assert answer.status_code == 200 and answer.json()["echo"] == str(i)
        assert connects == 1
        assert len(target.pool._idle) == 1
