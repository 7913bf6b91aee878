"""The task entry point the runtime gives every executor: :func:`run_task_in_env`.

A task whose step has no environment runs in-process through
:func:`shipyard.runtime.task_entry.run_task`, as before (one cached dict lookup more). A task whose
step has one (``opts["env_lock"]``, the lock recorded in ``flow_spec["envs"]``) runs in a child
process (:mod:`.child`) whose ``PYTHONPATH`` starts with the environment's packages, so the
step's pins shadow the runner's packages (the base interpreter and shipyard stay the runner's).
The child is long-lived: one per environment (and settings, driver variables and working folder)
per worker process, so a task pays a pipe round trip, not an interpreter start. A worker on a
machine that lacks the environment (another Ray node) installs it from the recorded lock first.

The child dies with its worker: an executor that kills a worker (a timeout, a cancelled run)
kills the child too. A child that dies during a task fails that attempt with its exit status and
the end of its stderr, and the next task starts a new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from shipyard.core.errors import ShipyardError
from shipyard.runtime.envs.lock import Lock
from shipyard.runtime.envs.store import ensure_env, envs_root
from shipyard.runtime.task_entry import run_context, run_task

if TYPE_CHECKING:
    from shipyard.core.settings import Settings

_MAX_CHILDREN = 4  # environments kept warm per worker; the oldest is stopped past this
_STDERR_TAIL = 4000
_INHERITED = ("CUDA_VISIBLE_DEVICES",)


def run_task_in_env(
    run_id: str, task_id: str, settings: Settings, attempt: int | None = None, node: str | None = None
) -> dict[str, Any]:
    """Run one attempt of a task, in its step's environment when it has one (same contract as
    :func:`~shipyard.runtime.task_entry.run_task`)."""
    stores, run = run_context(run_id, settings)
    envs = (run.flow_spec or {}).get("envs")
    if envs:
        task = stores.metadata.get_task(task_id)
        lock_hash = (task.spec.get("opts") or {}).get("env_lock")
        if lock_hash:
            return _run_in_child(envs, str(lock_hash), run_id, task_id, settings, attempt, node, task.key)
    return run_task(run_id, task_id, settings, attempt=attempt, node=node)


def _run_in_child(  # noqa: PLR0917 (the task's coordinates)
    envs: dict[str, Any],
    lock_hash: str,
    run_id: str,
    task_id: str,
    settings: Settings,
    attempt: int | None,
    node: str | None,
    key: str,
) -> dict[str, Any]:
    try:
        entry = envs.get(lock_hash)
        if entry is None:
            raise ShipyardError(f"the run records no environment {lock_hash[:12]} for step {key}")
        site = ensure_env(Lock.from_dict(entry), envs_root(settings.home), f"step {key}")
        child = _POOL.child(lock_hash, site, settings)
    except ShipyardError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "recorded": False}
    except OSError as exc:
        return {"ok": False, "error": f"cannot start the environment of step {key}: {exc}", "recorded": False}
    return child.run({"run_id": run_id, "task_id": task_id, "attempt": attempt, "node": node})


def settings_line(settings: Settings) -> bytes:
    """The settings as one JSON line, secret values revealed (it travels over a pipe only)."""
    from pydantic import SecretStr

    from shipyard.core.plain_settings import FIELD_NAMES

    data: dict[str, Any] = {}
    for name in FIELD_NAMES:  # Settings' fields (plain settings have the same)
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Path):
            value = str(value)
        data[name] = value
    return json.dumps(data).encode() + b"\n"


@dataclass
class EnvChild:
    """One running child process of an environment."""

    process: subprocess.Popen[bytes]
    requests: IO[bytes]
    replies: IO[bytes]
    stderr: IO[bytes]
    owner: int = field(default_factory=os.getpid)

    @classmethod
    def start(cls, site: Path, settings: Settings) -> EnvChild:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
        if (site / "bin").is_dir():
            env["PATH"] = os.pathsep.join([str(site / "bin"), *filter(None, [env.get("PATH")])])
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 (kept for the child's life)
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "shipyard.runtime.envs.child",
                    str(os.getpid()),
                    str(req_r),
                    str(rep_w),
                    str(site),
                ],
                stdin=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(req_r, rep_w),
                env=env,
            )
        except BaseException:
            for fd in (req_r, req_w, rep_r, rep_w):
                os.close(fd)
            stderr.close()
            raise
        os.close(req_r)
        os.close(rep_w)
        child = cls(process, os.fdopen(req_w, "wb"), os.fdopen(rep_r, "rb"), stderr)
        child._send(settings_line(settings))
        return child

    def _send(self, data: bytes) -> None:
        self.requests.write(data)
        self.requests.flush()

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            self._send(json.dumps(request).encode() + b"\n")
            line = self.replies.readline()
        except OSError:
            line = b""
        if line:
            payload: dict[str, Any] = json.loads(line)
            return payload
        return {"ok": False, "error": self._death(), "recorded": False}

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _death(self) -> str:
        try:
            code = self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            self.stop()
            code = self.process.returncode
        if code is not None and code < 0:
            try:
                what = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                what = f"was killed by signal {-code}"
        else:
            what = f"exited with code {code}"
        self.stderr.seek(0, os.SEEK_END)
        size = self.stderr.tell()
        self.stderr.seek(max(0, size - _STDERR_TAIL))
        tail = self.stderr.read().decode("utf-8", "replace").strip()
        return f"the step's environment process {what}" + (f"\n{tail}" if tail else "")

    def stop(self) -> None:
        for fh in (self.requests, self.replies):
            with contextlib.suppress(OSError):
                fh.close()
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(2.0)
        self.stderr.close()


class _ChildPool:
    """This process's environment children by (lock, settings, driver variables, folder)."""

    def __init__(self) -> None:
        self.children: dict[str, EnvChild] = {}

    def child(self, lock_hash: str, site: Path, settings: Settings) -> EnvChild:
        key = self._key(lock_hash, settings)
        found = self.children.get(key)
        if found is not None and found.owner == os.getpid() and found.alive:
            return found
        if found is not None:
            self.children.pop(key)
            if found.owner == os.getpid():
                found.stop()
        while len(self.children) >= _MAX_CHILDREN:
            oldest = next(iter(self.children))
            old = self.children.pop(oldest)
            if old.owner == os.getpid():
                old.stop()
        child = EnvChild.start(site, settings)
        self.children[key] = child
        return child

    @staticmethod
    def _key(lock_hash: str, settings: Settings) -> str:
        environ = sorted(
            (k, v) for k, v in os.environ.items() if k.startswith("SHIPYARD_") or k in _INHERITED
        )
        body = json.dumps([lock_hash, settings_line(settings).decode(), environ, os.getcwd()])
        return hashlib.sha256(body.encode()).hexdigest()


_POOL = _ChildPool()  # process state, like task_entry's worker state: the children this worker owns
