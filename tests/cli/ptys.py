"""Running a command on a pseudo-terminal (what a user's terminal shows: widths, live progress)."""

from __future__ import annotations

import os
import pty
import subprocess
from collections.abc import Sequence
from pathlib import Path


def on_a_terminal(
    argv: Sequence[str], env: dict[str, str], *, columns: int | None = None, cwd: Path | None = None
) -> tuple[int, bytes]:
    """Exit code and every byte ``argv`` wrote to a pseudo-terminal (``columns`` wide when given)."""
    master, slave = pty.openpty()
    if columns is not None:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=120), out
