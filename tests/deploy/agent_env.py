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
    """An open-loop load of ``rate`` requests a second: request ``i`` is due at ``start + i / rate``
    whatever the answers before it took (a slow answer never lowers the offered rate, as it did
    with closed-loop client threads), sent on up to ``threads`` keep-alive connections (more
    requests due than connections free wait for one; their time counts from when they were due).
    The client is lean — one asyncio loop in one thread, the router's own pooled HTTP/1.1 client
    (:mod:`shipyard.deploy.agent.upstream`, ~0.1 ms of CPU a request against httpx's ~1 ms) — so
    on a small machine the load generator does not starve what it measures. Every answer is
    recorded: (time due, status or -1 for a transport error, version)."""

    url: str
    headers: dict[str, str]
    rate: float = 200.0
    threads: int = 32  # connections: the most requests in flight
    results: list[tuple[float, int, int | None]] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)  # per request in results: when it was answered
    _answers: list[tuple[float, int, int | None, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    started: float = 0.0
    stopped: float = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _run(self) -> None:
        try:
            import uvloop

            uvloop.run(self._main())
        except ImportError:  # pragma: no cover - uvloop is a dependency of the agent
            import asyncio

            asyncio.run(self._main())

    async def _main(self) -> None:
        import asyncio
        from urllib.parse import urlsplit

        import orjson

        from shipyard.deploy.agent.upstream import UpstreamError, UpstreamPool

        url = urlsplit(self.url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        target = url.path or "/"
        body = orjson.dumps([row()])
        headers = [(b"host", f"{host}:{port}".encode()), (b"content-type", b"application/json")]
        headers += [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        pool = UpstreamPool(host, port, max_idle=self.threads, connect_timeout=10.0)
        slots = asyncio.Semaphore(self.threads)
        tasks: set[asyncio.Task[None]] = set()

        async def one(due: float) -> None:
            async with slots:
                try:
                    answer = await pool.request("POST", target, headers, body, timeout=30.0)
                except UpstreamError:
                    self._answers.append((due, -1, None, time.monotonic()))
                    return
            version = None
            if answer.status == 200:
                try:
                    version = orjson.loads(answer.body).get("version")
                except (orjson.JSONDecodeError, AttributeError):
                    version = None
            self._answers.append((due, answer.status, version, time.monotonic()))

        period = 1.0 / self.rate
        sent = 0
        try:
            while not self._stop.is_set():
                due = self.started + sent * period
                pause = due - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                task = asyncio.create_task(one(due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            if tasks:  # every request sent is answered and counted
                await asyncio.wait(list(tasks), timeout=60)
        finally:
            pool.close()

    def stop(self) -> None:
        self._stop.set()
        self.stopped = time.monotonic()  # the offered load ends here; answers still come in
        for thread in self._threads:
            thread.join(timeout=90)
        answers = sorted(self._answers)
        self.results = [(due, status, version) for due, status, version, _ in answers]
        self.answered = [at for *_, at in answers]

    @property
    def failures(self) -> list[tuple[float, int, int | None]]:
        return [r for r in self.results if r[1] != 200]

    @property
    def rate_achieved(self) -> float:
        """Requests answered (any status) while the load ran, per second of it: a backlog of
        requests still waiting when it stopped does not count."""
        span = max(self.stopped - self.started, 1e-9)
        return sum(1 for at in self.answered if at <= self.stopped) / span

    def percentile(self, q: float) -> float:
        """A latency percentile in milliseconds (``q`` in [0, 100])."""
        ordered = sorted(at - due for (due, _, _), at in zip(self.results, self.answered, strict=True))
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000.0

    def first(self, version: int, after: float = 0.0) -> float | None:
        return next(
            (t for t, status, v in self.results if t >= after and status == 200 and v == version), None
        )
