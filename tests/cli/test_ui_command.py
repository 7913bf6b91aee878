"""``shipyard ui``: the web UI for this machine's store, on loopback, with its URL printed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import shipyard
from shipyard.core.entities import RunStatus
from shipyard.core.settings import load_settings
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import open_stores

SRC = str(Path(shipyard.__file__).resolve().parents[1])


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    return env | {"SHIPYARD_HOME": str(home), "PYTHONPATH": SRC}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ui(home: Path, *args: str) -> subprocess.Popen[str]:
    code = "import sys; from shipyard.cli.main import main; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, "ui", *args],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ui_serves_the_local_store_and_prints_its_url(tmp_path: Path) -> None:
    stores = open_stores(load_settings(home=tmp_path / "home"))
    client = TrackingClient(stores)
    run = client.create_run("seen-in-the-ui")
    client.finish_run(run.id, RunStatus.SUCCEEDED)
    stores.close()
    port = _free_port()
    proc = _ui(tmp_path / "home", "--port", str(port))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first == f"shipyard ui: http://127.0.0.1:{port}/ui/  (Ctrl-C to stop)", first
        deadline, page = time.monotonic() + 60, ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui/", timeout=5) as answer:
                    page = answer.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "seen-in-the-ui" in page  # no sign-in: the local store's runs, at once
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_ui_refuses_other_hosts_and_a_taken_port_in_one_line(tmp_path: Path) -> None:
    exposed = _ui(tmp_path / "home", "--host", "0.0.0.0")
    _, err = exposed.communicate(timeout=60)
    assert exposed.returncode != 0 and err.startswith("error:") and "loopback" in err, err
    assert len(err.strip().splitlines()) == 1, err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _ui(tmp_path / "home", "--port", str(port))
        _, err = busy.communicate(timeout=60)
    assert busy.returncode == 2 and "--port" in err and len(err.strip().splitlines()) == 1, err
