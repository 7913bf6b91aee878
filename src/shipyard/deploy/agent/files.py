"""The agent's files under ``<home>/agent/<environment>/``: ``ports.json`` (each deployment's
stable router port), ``status.json`` (what runs, rewritten on every change; ``shipyard agent
status`` reads it), ``agent.lock`` (one agent per environment and home), and one log per process
(``<deployment>.log``)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import IO, Any

from shipyard.core.errors import ConfigurationError, NotFoundError

MAX_FILE_BYTES = 4 << 20


def agent_dir(home: Path, environment: str) -> Path:
    return home / "agent" / environment


def write_json(path: Path, data: Any) -> None:
    """Atomically (a reader sees the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path, what: str) -> Any:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise NotFoundError(f"no {what} at {path}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigurationError(f"{path} is over {MAX_FILE_BYTES >> 20} MiB; it is not the agent's {what}")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{path} is not valid JSON ({exc}); fix or delete it") from None


class PortBook:
    """``ports.json``: deployment name -> router port, assigned on first use and kept, so a
    deployment keeps its address across agent restarts (edit the file to choose a port)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = read_json(path, "ports file") if path.exists() else {}
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536
            for k, v in data.items()
        ):
            raise ConfigurationError(
                f'{path} must map deployment names to ports (1-65535), like {{"api": 8100}}'
            )
        self.ports: dict[str, int] = dict(data)

    def get(self, name: str) -> int | None:
        return self.ports.get(name)

    def record(self, name: str, port: int) -> None:
        if self.ports.get(name) != port:
            self.ports[name] = port
            write_json(self.path, self.ports)


class AgentLock:
    """An exclusive lock on ``agent.lock`` for the agent's life; its pid is written inside."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read(32).strip() or "?"
            fh.close()
            raise ConfigurationError(
                f"an agent for this environment already runs (pid {holder}, lock {self.path}); stop it first"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None


def stop_orphans(children: Any) -> list[int]:
    """SIGTERM the processes a previous agent recorded (``[{"pid": P, "created": T}]``) that still
    run as the same process (same start time): its backends after it was killed. Returns their pids."""
    import psutil

    stopped: list[int] = []
    if not isinstance(children, list):
        return stopped
    procs = []
    for item in children:
        if not isinstance(item, dict) or not isinstance(item.get("pid"), int):
            continue
        try:
            proc = psutil.Process(item["pid"])
            if abs(proc.create_time() - float(item.get("created", -1))) > 0.05:
                continue
            proc.terminate()
            procs.append(proc)
            stopped.append(item["pid"])
        except (psutil.Error, ValueError, TypeError):
            continue
    _, alive = psutil.wait_procs(procs, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return stopped


def created(pid: int) -> float | None:
    """A process's start time (to recognize it later), None when it is gone."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None
