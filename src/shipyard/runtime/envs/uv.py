"""Run ``uv`` (from the ``uv`` package, ``pip install 'shipyard[envs]'``, or the PATH) and turn what
it says on failure into one line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence

from shipyard.core.errors import FlowError

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOISE = (
    "error:",
    "cause:",
    "hint:",
    "warning:",
    "\u00d7",
    "\u2570\u2500\u25b6",
    "\u251c\u2500\u25b6",
    "\u2502",
    "help:",
)
_MAX_LINE = 500


def find_uv() -> str:
    """The path of the ``uv`` binary; FlowError saying how to get it."""
    try:
        import uv  # type: ignore[import-not-found,unused-ignore]

        found = str(uv.find_uv_bin())
        if found:
            return found
    except (ImportError, FileNotFoundError):
        pass
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    raise FlowError("step environments (pip=, requirements=) need uv: pip install 'shipyard[envs]'")


def run_uv(
    args: Sequence[str], *, stdin: str | None = None, timeout_s: float = 900.0
) -> tuple[int, str, str]:
    """Run ``uv ARGS``; returns (exit code, stdout, stderr). The only place uv is called: the tests
    count calls here to prove a cached environment resolved and installed nothing."""
    env = {**os.environ, "NO_COLOR": "1", "UV_NO_PROGRESS": "1"}
    try:
        proc = subprocess.run(
            [find_uv(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"uv {' '.join(args[:2])} ran past {timeout_s:g}s"
    return proc.returncode, proc.stdout, proc.stderr or proc.stdout


def one_line(text: str) -> str:
    """uv's multi-line report as one line, its decorations dropped, bounded."""
    parts: list[str] = []
    for raw in _ANSI.sub("", text).splitlines():
        line = raw.strip()
        while True:
            for prefix in _NOISE:
                if line.startswith(prefix):
                    line = line[len(prefix) :].strip()
                    break
            else:
                break
        if line:
            parts.append(line)
    joined = ""
    for part in parts:  # a wrapped line goes on; a new sentence is set off by a colon
        if joined:
            joined += " " if joined.endswith((":", ",")) or not part[:1].isupper() else ": "
        joined += part
    joined = " ".join(joined.split()) or "uv failed and said nothing"
    return joined if len(joined) <= _MAX_LINE else joined[: _MAX_LINE - 3] + "..."
