"""The admission gate and the refusal counters: beyond ``max_in_flight`` requests get a 503 with
``Retry-After`` before their token or body is looked at, the admitted ones still succeed, and every
refusal (401/413/415/429/503) is counted in /metrics by reason and status."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shipyard.serving import ServingConfig, create_serving_app
from tests.serving.conftest import Env, auth, live, rows


def rejected(url: str, env: Env) -> dict[tuple[str, str], float]:
    text = httpx.get(url + "/metrics", headers=auth(env)).text
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name == "shipyard_serving_rejected":
            for sample in family.samples:
                if sample.name == "shipyard_serving_rejected_total":
                    out[(sample.labels["reason"], sample.labels["status"])] = sample.value
    return out


def test_beyond_the_limit_requests_get_503_at_once_and_the_admitted_ones_succeed(env: Env) -> None:
    # version 4 sleeps 0.2 s per model call; two requests in flight at most
    config = ServingConfig(
        "models:/fraud/4", allow_unsafe_model=True, max_in_flight=2, max_batch_size=1, log_dir=None
    )
    app = create_serving_app(config, stores=env.stores)
    admission = app.state.admission

    async def main(url: str) -> tuple[list[httpx.Response], list[httpx.Response]]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            admitted = [
                asyncio.ensure_future(client.post("/predict", json=rows(1, i), headers=auth(env)))
                for i in range(2)
            ]
            deadline = time.monotonic() + 10
            while admission.in_flight < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            assert admission.in_flight == 2
            # refused before the guard: a bad token, or none, gets the same 503, not a 401
            headers: list[dict[str, Any]] = [auth(env), {}, {"Authorization": "Bearer shp_wrong"}]
            beyond = await asyncio.gather(
                *(client.post("/predict", json=rows(1, i), headers=headers[i % 3]) for i in range(6))
            )
            return list(await asyncio.gather(*admitted)), list(beyond)

    with live(app) as url:
        before = rejected(url, env)
        ok, refused = asyncio.run(main(url))
        after = rejected(url, env)
        assert httpx.get(url + "/health").status_code == 200  # probes bypass the gate
        again = httpx.post(url + "/predict", json=rows(1, 9), headers=auth(env), timeout=10)
    assert [r.status_code for r in ok] == [200, 200]
    for r in refused:
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1" and r.headers["x-content-type-options"] == "nosniff"
        assert r.json()["error"]["code"] == "overloaded"
    assert after[("overloaded", "503")] - before[("overloaded", "503")] == 6
    assert after[("unauthenticated", "401")] == before[("unauthenticated", "401")]
    assert again.status_code == 200  # admitted again once the in-flight ones are answered
    assert admission.in_flight == 0


def test_every_refusal_is_counted_by_reason_and_status(env: Env) -> None:
    config = ServingConfig(
        "models:/fraud@champion",
        log_dir=str(env.root / "log-rejections"),
        max_body_bytes=2048,
        auth_failures=2,
    )
    big = rows(60, 1)
    with live(create_serving_app(config, stores=env.stores)) as url:
        start = rejected(url, env)
        assert start[("overloaded", "503")] == 0 and start[("payload_too_large", "413")] == 0
        assert httpx.post(url + "/predict", json=rows(1, 1)).status_code == 401
        assert httpx.post(url + "/predict", content=b"x", headers=auth(env)).status_code == 415
        assert httpx.post(url + "/feedback", content=b"x", headers=auth(env)).status_code == 415
        assert httpx.post(url + "/predict", json=big, headers=auth(env)).status_code == 413
        assert httpx.post(url + "/feedback", json={"labels": big}, headers=auth(env)).status_code == 413
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.7")) as client:
            wrong = {"Authorization": "Bearer shp_" + "x" * 43}
            codes = [
                client.post(url + "/predict", json=rows(1, 1), headers=wrong).status_code for _ in range(3)
            ]
        assert codes == [401, 401, 429]
        end = rejected(url, env)
    delta = {key: end[key] - start.get(key, 0) for key in end}
    assert delta[("unauthenticated", "401")] == 3
    assert delta[("unsupported_media_type", "415")] == 2
    assert delta[("payload_too_large", "413")] == 2
    assert delta[("too_many_requests", "429")] == 1
    assert delta[("overloaded", "503")] == 0


def test_the_limit_shrinks_while_a_queue_stands_and_grows_back_when_it_drains() -> None:
    from shipyard.serving.admission import QUEUE_TARGET_S, WINDOW_S, Admission

    gate = Admission(320, 1, floor=64, clock=lambda: 0.0)
    now = 0.0
    limits = []
    for _ in range(20):  # every wait in each window is over the target: a standing queue
        for _ in range(5):
            now += WINDOW_S / 4
            gate.observe(QUEUE_TARGET_S * 3, now)
        limits.append(gate.limit)
    assert limits == sorted(limits, reverse=True) and limits[0] < 320 and limits[-1] == 64
    for _ in range(40):  # one short wait per window: no standing queue
        now += WINDOW_S / 2
        gate.observe(QUEUE_TARGET_S * 3, now)
        now += WINDOW_S / 2
        gate.observe(QUEUE_TARGET_S / 5, now)
    assert gate.limit == 320


def test_a_request_beyond_the_limit_takes_a_slot_freed_while_it_waits_else_gets_503() -> None:
    from shipyard.serving.admission import Admission

    async def main() -> list[int]:
        gate = Admission(1, 1, hold_s=0.5)
        release = asyncio.Event()
        statuses: list[int] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["path"] == "/slow":
                await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})

        def request(path: str) -> Any:
            async def send(message: Any) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            return gate({"type": "http", "path": path}, None, send, app)

        first = asyncio.ensure_future(request("/slow"))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(request("/fast"))  # waits in line for the slot
        await asyncio.sleep(0.01)
        assert statuses == [] and gate.in_flight == 1
        release.set()  # the first is answered: its slot goes to the second
        await asyncio.gather(first, second)
        assert statuses == [200, 200] and gate.in_flight == 0
        release.clear()
        gate.hold_s = 0.01
        third = asyncio.ensure_future(request("/slow"))
        await asyncio.sleep(0)
        await request("/fast")  # no slot frees within the hold: 503
        assert statuses[-1] == 503
        release.set()
        await third
        assert gate.in_flight == 0
        return statuses

    assert asyncio.run(main()) == [200, 200, 503, 200]


class _Counting:
    """An ASGI wrapper (as uvicorn's own are) that records the paths the app is called with."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


def _answer(sock: Any) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One HTTP/1.1 response from ``sock``: status line, headers (lower-case names), body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}
    while len(body) < int(headers[b"content-length"]):
        body += sock.recv(65536)
    return status, headers, body


def test_serve_refuses_beyond_the_limit_in_the_protocol_before_the_app_sees_the_request(env: Env) -> None:
    # `shipyard serve`'s protocol: one request in flight at most; the one holding the slot has sent
    # only part of its body, so the slot stays taken for as long as the test needs
    import socket

    config = ServingConfig("models:/fraud@champion", max_in_flight=1, max_batch_size=1, log_dir=None)
    app = create_serving_app(config, stores=env.stores)
    gate = app.state.admission
    counting = _Counting(app)
    body = b'{"this is": "not even parsed"}'
    refused_request = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with live(counting) as url:
        port = int(url.rsplit(":", 1)[1])
        holder = socket.create_connection(("127.0.0.1", port), timeout=10)
        other = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            token = env.token.encode()
            holder.sendall(
                b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + token + b"\r\nContent-Length: 100\r\n\r\n[{"
            )
            deadline = time.monotonic() + 10
            while gate.in_flight < 1 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert gate.in_flight == 1 and counting.paths.count("/predict") == 1
            seconds = []
            for _ in range(3):  # on one keep-alive connection: each refusal leaves it usable
                started = time.perf_counter()
                other.sendall(refused_request)
                status, headers, answer = _answer(other)
                seconds.append(time.perf_counter() - started)
                assert status == b"HTTP/1.1 503 Service Unavailable"
                assert headers[b"retry-after"] == b"1" and headers[b"x-content-type-options"] == b"nosniff"
                assert b"connection" not in headers and b"date" in headers
                assert b'"overloaded"' in answer
            assert min(seconds) < 0.05, seconds
            # the app never saw them: no guard (no token was sent: not a 401), no body parsing
            assert counting.paths.count("/predict") == 1
            holder.sendall(b"x" * 98)  # the holder's body is complete (not JSON: 422), its slot freed
            status, _, _ = _answer(holder)
            assert status.startswith(b"HTTP/1.1 422")
            rows_body = httpx.Request("POST", url, json=rows(1, 1)).read()
            other.sendall(
                b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
                % (token, len(rows_body), rows_body)
            )
            status, headers, _ = _answer(other)  # admitted on the same connection
            assert status == b"HTTP/1.1 200 OK" and headers[b"x-content-type-options"] == b"nosniff"
        finally:
            holder.close()
            other.close()
        after = rejected(url, env)
    assert after[("overloaded", "503")] == 3
    assert gate.in_flight == 0


class _Transport(asyncio.Transport):
    """An in-memory transport that keeps what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _GatedApp:
    """An ASGI app with a gate of one slot, no waiting: it answers 200 "ok" once ``go`` is set."""

    def __init__(self) -> None:
        from shipyard.serving.admission import Admission

        self.admission = Admission(1, 1, hold_s=0)
        self.seen: list[tuple[str, bool]] = []
        self.go = asyncio.Event()
        self.go.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from shipyard.serving.admission import ADMITTED

        self.seen.append((scope["path"], scope.get(ADMITTED, False)))
        await receive()
        await self.go.wait()
        await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


def _connect(app: _GatedApp) -> tuple[Any, _Transport]:
    import uvicorn
    from uvicorn.server import ServerState

    from shipyard.serving.protocol import GatedHttpToolsProtocol

    config = uvicorn.Config(app, http=GatedHttpToolsProtocol, lifespan="off", log_level="warning")
    config.load()
    protocol = config.http_protocol_class(config=config, server_state=ServerState(), app_state={})
    assert isinstance(protocol, GatedHttpToolsProtocol) and protocol.gate is app.admission
    transport = _Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def _until(check: Any) -> None:
    for _ in range(400):
        await asyncio.sleep(0.005)
        if check():
            return


REQUEST = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


def test_the_protocol_writes_each_answer_once_and_in_order_when_requests_are_pipelined() -> None:
    async def main() -> tuple[list[bytes], _GatedApp]:
        app = _GatedApp()
        protocol, transport = _connect(app)
        # three pipelined: the first runs, the second waits its turn (uvicorn's pipeline) and is
        # refused by the full gate the moment the first is answered (its slot is released when
        # its task ends, just after), the third is a probe: never gated
        protocol.data_received(REQUEST * 2 + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await _until(lambda: len(transport.writes) == 3)
        protocol.connection_lost(None)
        assert app.admission.in_flight == 0
        return transport.writes, app

    writes, app = asyncio.run(main())
    assert len(writes) == 3  # one write per answer: its head and body together
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"\r\n\r\nok")
    assert writes[1].startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and b'"overloaded"' in writes[1]
    assert writes[2].startswith(b"HTTP/1.1 200 OK\r\n")  # /health bypasses the gate
    assert app.seen == [("/predict", True), ("/health", False)]  # the refused one never reached the app


def test_thousands_of_pipelined_requests_refused_in_a_row_need_no_recursion() -> None:
    async def main() -> list[bytes]:
        app = _GatedApp()
        app.go.clear()
        protocol, transport = _connect(app)
        protocol.data_received(REQUEST * 3000)  # the first holds the slot, 2999 wait in the pipeline
        await _until(lambda: app.admission.in_flight == 1)
        app.go.set()  # answered: each of the others is refused as it comes up
        await _until(lambda: len(transport.writes) == 3000)
        protocol.connection_lost(None)
        return transport.writes

    writes = asyncio.run(main())
    assert len(writes) == 3000 and writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert all(w.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") for w in writes[1:])
