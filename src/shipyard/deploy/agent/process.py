"""A child process of the agent: started in its own session (a Ctrl-C at the agent's terminal
reaches the agent, which stops its children in order), its output appended to a log file, stopped
with SIGTERM and, after a grace period, SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.deploy.agent.spare import Spare


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now on ``host`` (the child binds it; a lost race is a failed start, retried)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Child:
    """One started process: a new one, or ``spare`` told to become it (its imports done; the
    caller checked that it fits: :meth:`~.spare.Spare.fits`)."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: Path,
        *,
        cwd: Path | None = None,
        spare: Spare | None = None,
    ) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        how = f" (a spare started {spare.age:.0f} s ago, pid {spare.pid})" if spare is not None else ""
        with log.open("ab") as out:
            out.write(f"---- {stamp} agent starts{how}: {' '.join(argv[1:])}\n".encode())
            out.flush()
            taken = spare.take(argv, log, env) if spare is not None else None
            self.from_spare = taken is not None
            self.proc = taken or subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC)
        self.log = log

    def poll(self) -> int | None:
        """The exit code once it has exited, else None."""
        return self.proc.poll()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    async def stop(self, grace_s: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after ``grace_s``; returns the exit code."""
        if self.alive:
            self.signal(signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while self.alive and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if self.alive:
                self.signal(signal.SIGKILL)
                while self.alive:
                    await asyncio.sleep(0.02)
        code = self.proc.returncode
        return int(code) if code is not None else -1

    def stop_now(self) -> None:
        """SIGKILL and reap (the agent is going down without its loop)."""
        if self.alive:
            self.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)


async def wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Until ``event`` is set or ``timeout_s`` passed. (Not ``asyncio.wait_for``: on Python 3.11 it
    can swallow a cancellation that arrives as the event is set, and a task would never stop.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()


def exit_text(code: int) -> str:
    """``exit 1`` / ``killed by SIGKILL``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"
