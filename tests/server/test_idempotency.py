"""Idempotency-Key on the server's POST routes, and the REST client's retry after a lost answer:
a retried write is applied once."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest

from shipyard.core.entities import Metric, RunCreate
from shipyard.metadata.rest.store import RestMetadataStore
from tests.server.live import LiveServer


def _run_body(name: str = "r") -> dict[str, object]:
    return {
        "id": uuid.uuid4().hex,
        "name": name,
        "namespace": "user:admin",
        "user": "admin",
        "start_time": datetime.now(UTC).isoformat(),
    }


def _metrics(client: httpx.Client, run_id: str) -> list[list[object]]:
    page = client.get(f"/api/v1/runs/{run_id}/metric-history", params={"key": "loss"})
    assert page.status_code == 200, page.text
    return list(page.json()["metrics"])


def test_same_key_replays_the_first_answer(admin: httpx.Client) -> None:
    body = _run_body()
    headers = {"Idempotency-Key": "create-run-1"}
    first = admin.post("/api/v1/runs", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = admin.post("/api/v1/runs", json=body, headers=headers)
    assert again.status_code == 201  # without the key: 409, the run exists
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == "application/json"


def test_a_retried_metric_batch_is_logged_once(admin: httpx.Client) -> None:
    run = admin.post("/api/v1/runs", json=_run_body()).json()
    batch = {"metrics": [["loss", 0.5, 1, 1000], ["loss", 0.25, 2, 2000]]}
    for _ in range(3):
        sent = admin.post(f"/api/v1/runs/{run['id']}/metrics", json=batch, headers={"Idempotency-Key": "b-1"})
        assert sent.status_code == 204
    assert len(_metrics(admin, run["id"])) == 2
    other = admin.post(f"/api/v1/runs/{run['id']}/metrics", json=batch, headers={"Idempotency-Key": "b-2"})
    assert other.status_code == 204
    assert len(_metrics(admin, run["id"])) == 4  # a new key is a new write


def test_same_key_other_body_is_refused(admin: httpx.Client) -> None:
    headers = {"Idempotency-Key": "k-reused"}
    assert admin.post("/api/v1/runs", json=_run_body("a"), headers=headers).status_code == 201
    reused = admin.post("/api/v1/runs", json=_run_body("b"), headers=headers)
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "invalid_input"
    assert "Idempotency-Key" in reused.json()["error"]["message"]


def test_keys_are_per_principal_and_well_formed(server: LiveServer, admin: httpx.Client) -> None:
    bad = admin.post("/api/v1/runs", json=_run_body(), headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 400
    from shipyard.server.accounts import add_user, issue_token

    ctx = server.app.state.ctx
    add_user(ctx.security, "bob", "admin", by="test")
    bob_token, _ = issue_token(ctx.security, "bob", "t")
    body = _run_body()
    assert admin.post("/api/v1/runs", json=body, headers={"Idempotency-Key": "shared"}).status_code == 201
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {bob_token}"}) as bob:
        theirs = bob.post("/api/v1/runs", json=body, headers={"Idempotency-Key": "shared"})
    assert theirs.status_code == 409  # bob's key is his own: his request ran (the run id is taken)
    assert "idempotent-replayed" not in theirs.headers


def test_openapi_declares_the_header_on_posts(admin: httpx.Client) -> None:
    spec = admin.get("/openapi.json").json()
    post = spec["paths"]["/api/v1/runs"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    assert "422" in post["responses"] and "409" in post["responses"]
    get = spec["paths"]["/api/v1/runs"]["get"]
    assert not any(p["name"] == "Idempotency-Key" for p in get.get("parameters", []))


class LosingProxy:
    """Forwards each connection's one request to ``upstream``; for the first POST whose path ends
    with ``lose_suffix`` it drops the answer (the write happened, the client never hears)."""

    def __init__(self, upstream: str, lose_suffix: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.lose_suffix = lose_suffix.encode()
        self.lost = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += conn.recv(65536)
        lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
        return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                request = self._read_request(conn)
                with socket.create_connection(self.upstream, timeout=10) as up:
                    up.sendall(request)
                    answer = b""
                    while chunk := up.recv(65536):
                        answer += chunk
                first_line = request.split(b"\r\n", 1)[0].split()
                if self.lost == 0 and first_line[0] == b"POST" and first_line[1].endswith(self.lose_suffix):
                    self.lost += 1
                    continue  # the server applied it; the answer is lost on the way back
                conn.sendall(answer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def losing_proxy(server: LiveServer) -> Iterator[LosingProxy]:
    proxy = LosingProxy(server.url, "/metrics")
    yield proxy
    proxy.close()


def test_sdk_retry_after_a_lost_answer_logs_the_batch_once(
    server: LiveServer, admin: httpx.Client, losing_proxy: LosingProxy
) -> None:
    store = RestMetadataStore(losing_proxy.url, token=server.token)
    try:
        now = datetime.now(UTC)
        run = store.create_run(
            RunCreate(id=uuid.uuid4().hex, name="r", namespace="user:admin", user="admin", start_time=now)
        )
        store.log_metrics(run.id, [Metric("loss", 0.5, 1, 1000), Metric("loss", 0.25, 2, 2000)])
    finally:
        store.close()
    assert losing_proxy.lost == 1  # the first answer was lost and the client retried
    assert len(_metrics(admin, run.id)) == 2
