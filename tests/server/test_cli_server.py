"""``shipyard server`` as users start it: the first start prints the admin token once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server.live import free_port


def _start(home: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    cmd = [sys.executable, "-m", "shipyard.cli.main", "server", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(
        cmd, env=env, cwd=home, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )


def _wait(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the server did not come up")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    return err


def test_first_start_prints_the_admin_token_once(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(tmp_path, port)
    try:
        assert proc.stderr is not None
        banner = ""
        while "SHIPYARD_TOKEN=" not in banner:
            line = proc.stderr.readline()
            assert line, "the server printed no token"
            banner += line
        token = banner.split("SHIPYARD_TOKEN=")[1].split()[0]
        _wait(url, proc)
        assert httpx.get(url + "/api/v1/runs").status_code == 401
        who = httpx.get(url + "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert who.json()["user"] == "admin"
    finally:
        _stop(proc)
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        _wait(f"http://127.0.0.1:{port}", proc)
        who = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}
        )
        assert who.status_code == 200
    finally:
        err = _stop(proc)
    assert "SHIPYARD_TOKEN=" not in err and token not in err
