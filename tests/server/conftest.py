"""Fixtures for the server tests: a live server on loopback and an httpx client for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.server.app import ServerConfig
from tests.server.live import LiveServer, live_server

# httpx's 5 s default: a first /openapi.json (FastAPI builds the document, ~0.4 s idle) once
# exceeded it in a full CI run at a load of 5-6, the server thread sharing the cores with 3 workers
LIVE_TIMEOUT_S = 30.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    config = ServerConfig(
        token_cache_s=0.0,
        max_json_bytes=256 * 1024,
        max_blob_bytes=4096,
        auth_failures=10_000,  # tests here send many bad tokens on purpose; test_throttle_hosts has 429
    )
    with live_server(tmp_path, config) as s:
        yield s


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=LIVE_TIMEOUT_S) as client:
        yield client


@pytest.fixture
def anon(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=LIVE_TIMEOUT_S) as client:
        yield client
