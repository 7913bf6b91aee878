"""``shipyard server --agent ENV``: the server also runs the deployment runtime of ENV, so one
command serves the API, the web UI and what ``apply``/``sync`` declare.

Each environment's agent is a child process — ``shipyard agent -e ENV --applied`` against the
server's own database and home — supervised here: started with the server, started again after
it exits (1 s backoff doubling to 30 s, reset once it ran a minute), and stopped with SIGTERM
(then SIGKILL after ``grace_s``) when the server stops, which lets it drain and stop its
services. A child rather than a task in the server's event loop: the agent's routers carry
prediction traffic and its rollouts fork processes, neither of which should share a loop (or
a crash) with the API; the agent keeps its own lock, status file and signals, exactly as when
it runs alone. It converges on each release as soon as it is recorded (its wake check), so an
``apply`` through this server is running seconds later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Report = Callable[[str], None]


@dataclass(frozen=True)
class AgentTarget:
    environment: str
    file: Path = Path("shipyard.yaml")  # the project's spec: its folder holds the flow files
    project: str | None = None  # default: the spec's project

    def argv(self, python: str = sys.executable) -> list[str]:
        cmd = [python, "-m", "shipyard.cli.main", "agent", "-e", self.environment, "--applied"]
        cmd += ["-f", str(self.file)]
        if self.project:
            cmd += ["--project", self.project]
        return cmd


@dataclass
class _Child:
    target: AgentTarget
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float = 0.0
    exits: list[int] = field(default_factory=list)


class AgentChildren:
    """Keep one ``shipyard agent`` child per target running until :meth:`stop`."""

    def __init__(
        self,
        targets: Sequence[AgentTarget],
        env: Mapping[str, str],
        report: Report,
        *,
        tick_s: float = 0.5,
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
        stable_s: float = 60.0,
        argv: Callable[[AgentTarget], list[str]] | None = None,
    ) -> None:
        self.children = [_Child(t) for t in targets]
        self._env = dict(env)
        self._report = report
        self._tick_s, self._backoff_s, self._backoff_max_s, self._stable_s = (
            tick_s,
            backoff_s,
            backoff_max_s,
            stable_s,
        )
        self._argv = argv or (lambda target: target.argv())
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            for child in self.children:
                self._spawn(child)
        self._thread = threading.Thread(target=self._watch, name="agent-children", daemon=True)
        self._thread.start()

    def _spawn(self, child: _Child) -> None:
        try:
            child.proc = subprocess.Popen(  # its own session: a Ctrl-C reaches the server, which stops it
                self._argv(child.target), env=self._env, stdin=subprocess.DEVNULL, start_new_session=True
            )
        except OSError as exc:
            child.proc = None
            self._failed(child, f"cannot start: {exc}")
            return
        child.started = time.monotonic()
        self._report(f"agent for {child.target.environment} started (pid {child.proc.pid})")

    def _failed(self, child: _Child, why: str) -> None:
        now = time.monotonic()
        if child.started and now - child.started >= self._stable_s:
            child.failures = 0
        child.failures += 1
        delay = min(self._backoff_s * 2 ** (child.failures - 1), self._backoff_max_s)
        child.restart_at = now + delay
        self._report(f"agent for {child.target.environment} {why}; starting it again in {delay:g} s")

    def _watch(self) -> None:
        while not self._stop.wait(self._tick_s):
            with self._lock:
                if self._stop.is_set():
                    return
                for child in self.children:
                    code = child.proc.poll() if child.proc is not None else None
                    if code is not None:
                        child.exits.append(code)
                        child.proc = None
                        self._failed(child, f"exited ({code})")
                    elif child.proc is None and time.monotonic() >= child.restart_at:
                        self._spawn(child)

    def stop(self, grace_s: float = 60.0) -> None:
        """SIGTERM every agent (each drains and stops its services), SIGKILL what is left after
        ``grace_s``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
            for proc in running:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            for proc in running:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    def pids(self) -> list[int]:
        with self._lock:
            return [c.proc.pid for c in self.children if c.proc is not None]
