"""A project for the local runtime's end-to-end tests and its bench: a registry with model ``fraud``
(1 and 2: LogisticRegressions trained on different data, ``candidate`` -> 2; 3: a pickle-based
package that ``shipyard serve`` refuses to load), a token, and ``shipyard agent`` as a subprocess
driven the way a user does (edit the spec, SIGHUP, read the status)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TOKEN = "shp_" + "Ag3nt" * 9

SPEC = """\
project: {{name: fraud}}
environments:
  dev: {{policies: {{data: {{datasets: [scoring]}}}}, settings: {{MODE: dev}}}}
deployments:
{deployments}
"""


def register_models(root: Path) -> dict[str, str]:
    """The registry (and dataset ``scoring``, 300 rows) under ``root``; returns the environment
    a shipyard process needs to use it."""
    from sklearn.linear_model import LogisticRegression

    import shipyard
    from shipyard.core.settings import load_settings
    from shipyard.metadata.security import open_security_store
    from shipyard.registry.service import ModelRegistry
    from shipyard.server.accounts import ADMIN_USER, add_user, issue_token
    from shipyard.tracking.client import TrackingClient
    from shipyard.tracking.stores import open_stores
    from tests.serving.conftest import FEATURES, make_data
    from tests.serving.fakes import Exploding

    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    src = str(Path(shipyard.__file__).resolve().parents[1])  # this checkout, from any folder
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env.update(
        SHIPYARD_HOME=str(home),
        SHIPYARD_URI=f"sqlite:///{home / 'db.sqlite'}",
        SHIPYARD_ARTIFACTS=str(home / "artifacts"),
    )
    settings = load_settings(home=home, uri=env["SHIPYARD_URI"], artifacts=env["SHIPYARD_ARTIFACTS"])
    stores = open_stores(settings)
    try:
        registry = ModelRegistry(stores)
        client = TrackingClient(stores)
        sig = {
            "input_kind": "dataframe",
            "inputs": [{"name": f, "type": "float64"} for f in FEATURES],
            "outputs": {"kind": "ndarray", "type": "int64", "shape": [-1]},
        }
        for seed in (1, 2):
            x, y = make_data(500, seed)
            model = LogisticRegression(max_iter=300).fit(x, y)
            run = client.create_run("agent-tests")
            record = registry.log_model(run.id, model, "fraud", input_example=x.head(3))
            registry.register_record(record, "fraud")
        run = client.create_run("agent-tests")
        record = registry.log_model(
            run.id, Exploding(), "fraud", input_example=make_data(3, 3)[0], signature=sig
        )
        assert registry.register_record(record, "fraud").version == 3
        registry.set_alias("fraud", "candidate", 2)
        from shipyard.data.service import DatasetService

        DatasetService(stores).snapshot("scoring", make_data(300, 11)[0])  # datasets:/scoring/1
        security = open_security_store(stores.metadata)
        add_user(security, ADMIN_USER, "admin", by="test")
        issue_token(security, ADMIN_USER, "agent-tests", value=TOKEN)
    finally:
        stores.close()
    return env


def row() -> dict[str, float]:
    from tests.serving.conftest import make_data

    return make_data(1, 7)[0].to_dict("records")[0]  # type: ignore[no-any-return]


@dataclass
class AgentProcess:
    root: Path
    env: dict[str, str]
    spec: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def status_path(self) -> Path:
        return Path(self.env["SHIPYARD_HOME"]) / "agent" / "dev" / "status.json"

    def start(self, *args: str) -> None:
        self.log = self.root / "agent.out"
        cmd = [sys.executable, "-m", "shipyard.cli.main", "agent", "-e", "dev", "-f", str(self.spec), *args]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, env=self.env, cwd=self.root, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def apply(self, deployments: str) -> None:
        """Write the spec and tell the agent (SIGHUP)."""
        self.spec.write_text(SPEC.format(deployments=deployments))
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGHUP)

    def status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_path.read_text())  # type: ignore[no-any-return]
        except (FileNotFoundError, ValueError):
            return {}

    def deployment(self, name: str) -> dict[str, Any]:
        return self.status().get("deployments", {}).get(name, {})  # type: ignore[no-any-return]

    def wait(self, check: Callable[[], bool], what: str, timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"the agent exited ({self.proc.returncode}) waiting for {what}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; status: {self.status()}\n{self.output()[-3000:]}"
                )
            time.sleep(0.1)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@dataclass
class Load:
    """Clients sending ``rate`` requests a second in all (``threads`` keep-alive clients at an even
    pace); every answer is recorded: (time sent, status or -1 for a transport error, version)."""

    url: str
    headers: dict[str, str]
    rate: float = 200.0
    threads: int = 4
    results: list[tuple[float, int, int | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    started: float = 0.0
    stopped: float = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for i in range(self.threads):
            thread = threading.Thread(target=self._client, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _client(self, index: int) -> None:
        body = [row()]
        period = self.threads / self.rate
        local: list[tuple[float, int, int | None]] = []
        with httpx.Client(timeout=30, headers=self.headers) as client:
            due = time.monotonic() + index * period / self.threads
            while not self._stop.is_set():
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                due = max(due + period, time.monotonic() - period)  # behind: catch up, but not in a burst
                sent = time.monotonic()
                try:
                    r = client.post(self.url, json=body)
                    version = r.json().get("version") if r.status_code == 200 else None
                    local.append((sent, r.status_code, version))
                except httpx.HTTPError:
                    local.append((sent, -1, None))
        self.results.extend(local)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self.stopped = time.monotonic()
        self.results.sort()

    @property
    def failures(self) -> list[tuple[float, int, int | None]]:
        return [r for r in self.results if r[1] != 200]

    @property
    def rate_achieved(self) -> float:
        return len(self.results) / max(self.stopped - self.started, 1e-9)

    def first(self, version: int, after: float = 0.0) -> float | None:
        return next(
            (t for t, status, v in self.results if t >= after and status == 200 and v == version), None
        )
