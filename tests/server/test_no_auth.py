"""``--no-auth`` only binds loopback; without it, tokens are required."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shipyard.core.errors import ConfigurationError
from shipyard.security.network import check_no_auth_bind, is_loopback_host
from shipyard.server.app import ServerConfig
from tests.server.live import live_server


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)
    check_no_auth_bind(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", "localhost.evil.com", ""]
)
def test_non_loopback_hosts_are_refused(host: str) -> None:
    assert not is_loopback_host(host)
    with pytest.raises(ConfigurationError, match="refusing to run without authentication"):
        check_no_auth_bind(host)


def test_cli_refuses_no_auth_on_all_interfaces(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipyard.cli.main",
            "server",
            "--no-auth",
            "--host",
            "0.0.0.0",
            "--port",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SHIPYARD_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "refusing to run without authentication on '0.0.0.0'" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_auth_server_on_loopback_serves_without_tokens(tmp_path: Path) -> None:
    with live_server(tmp_path, ServerConfig(auth=False)) as server:
        who = httpx.get(f"{server.url}/api/v1/whoami")
        assert who.status_code == 200 and "user:manage" in who.json()["permissions"]
