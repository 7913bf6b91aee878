"""The server's database goes away: requests answer 503 + Retry-After in bounded time, and the server
recovers by itself when the database is back. Runs on a private Postgres cluster the test starts,
stops and freezes (never the machine's shared one)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from shipyard.server.app import ServerConfig
from tests.private_postgres import PrivatePostgres, private_postgres
from tests.server.live import LiveServer, live_server

pytestmark = pytest.mark.slow

TIMEOUT_S = 1.5  # SHIPYARD_DB_TIMEOUT_S for this server: every database wait is bounded by it
ROUTES = ("/api/v1/runs?limit=1", "/api/v1/models", "/api/v1/users", "/api/v1/runs-count")


@pytest.fixture
def pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as pg:
        yield pg


@pytest.fixture
def pg_server(pg: PrivatePostgres, tmp_path: Path) -> Iterator[LiveServer]:
    import os

    os.environ["SHIPYARD_DB_TIMEOUT_S"] = str(TIMEOUT_S)
    try:
        with live_server(tmp_path, ServerConfig(token_cache_s=0.0), uri=pg.url) as server:
            yield server
    finally:
        os.environ.pop("SHIPYARD_DB_TIMEOUT_S", None)


def _burst(server: LiveServer, n: int = 24) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {server.token}"}

    def one(i: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            return client.get(ROUTES[i % len(ROUTES)])

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


def _assert_unavailable(responses: list[httpx.Response]) -> None:
    statuses = sorted({r.status_code for r in responses})
    assert statuses == [503], statuses
    for r in responses:
        assert r.headers.get("retry-after", "").isdigit()
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"]["code"] == "storage_error"


def _assert_recovers(server: LiveServer, within_s: float = 20) -> None:
    deadline = time.monotonic() + within_s
    while True:
        statuses = {r.status_code for r in _burst(server, 8)}
        if statuses == {200}:
            return
        assert time.monotonic() < deadline, f"still {statuses} after the database came back"
        time.sleep(0.2)


def test_stopped_database_answers_503_then_recovers(pg: PrivatePostgres, pg_server: LiveServer) -> None:
    assert {r.status_code for r in _burst(pg_server, 8)} == {200}
    pg.stop()
    _assert_unavailable(_burst(pg_server))
    pg.start()
    _assert_recovers(pg_server)


def test_frozen_database_answers_503_in_bounded_time(pg: PrivatePostgres, pg_server: LiveServer) -> None:
    assert {r.status_code for r in _burst(pg_server, 8)} == {200}
    pg.freeze()
    try:
        started = time.monotonic()
        responses = _burst(pg_server, 16)
        took = time.monotonic() - started
    finally:
        pg.thaw()
    _assert_unavailable(responses)
    # each request waits at most a checkout ping and a connect (each TIMEOUT_S), 8 run at once
    assert took < 8 * TIMEOUT_S + 5, f"a frozen database held requests for {took:.1f} s"
    _assert_recovers(pg_server)
