"""A throw-away Postgres cluster for fault tests that stop or freeze the database.

The machine's shared Postgres is never touched: :func:`private_postgres` runs ``initdb`` and
``pg_ctl`` (from ``/usr/lib/postgresql/*/bin`` or ``PATH``) into a temp folder on a free loopback
port, and removes it afterwards. Postgres refuses to run as root, so as root the binaries run as the
``postgres`` user through ``runuser``. Without the binaries the test skips with the reason (fails
in CI, see :mod:`tests.services`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.services import require


def _bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if found:
        return found[0].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


@dataclass
class PrivatePostgres:
    url: str
    port: int
    data: Path
    _bin: Path
    _user: list[str]

    def _ctl(self, *args: str, check: bool = True) -> None:
        cmd = [*self._user, str(self._bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", *args]
        subprocess.run(cmd, check=check, capture_output=True, timeout=60)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", opts, "-l", str(self.data / "log"), "start")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop", check=False)

    def _postmaster_pids(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer...), to freeze or thaw."""
        first = int((self.data / "postmaster.pid").read_text().split()[0])
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(first)], capture_output=True, text=True)
        return [first, *(int(p) for p in out.stdout.split())]

    def freeze(self) -> None:
        for pid in self._postmaster_pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._postmaster_pids():
            os.kill(pid, signal.SIGCONT)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    from tests.server.live import free_port

    bin_dir = _bin_dir()
    require(
        bin_dir is not None,
        "no Postgres server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or PATH",
    )
    assert bin_dir is not None
    user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="shipyard-pg-"))
    if os.geteuid() == 0:
        require(
            shutil.which("runuser") is not None,
            "running as root and no runuser to start Postgres as 'postgres'",
        )
        user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    data = root / "data"
    port = free_port()
    pg = PrivatePostgres(
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", port, data, bin_dir, user
    )
    try:
        subprocess.run(
            [*user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-N"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        pg.start()
        yield pg
    finally:
        if data.exists():
            with suppress(OSError, ValueError, IndexError):
                pg.thaw()
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)
