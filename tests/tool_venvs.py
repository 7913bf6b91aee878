"""Tools the tests run in virtual environments of their own (Airflow, checkov, Helm): built once per
machine, under a lock (pytest-xdist workers, other sessions), and reused while a ``.ready`` marker
naming the exact packages exists.

Built with uv when it is installed (``shipyard[envs]``, in the dev extras): it resolves and installs
Airflow's ~200 packages in a fraction of pip's time on a fresh machine (bytecode compiled up front,
as pip does, so the first run of the tool pays nothing extra). Falls back to ``venv`` + pip.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path


class ToolUnavailable(RuntimeError):
    """The environment could not be built (no PyPI, no venv module...)."""


def _uv() -> str | None:
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    try:
        return str(find_uv_bin())
    except FileNotFoundError:  # pragma: no cover - a broken uv install
        return shutil.which("uv")


def ensure_venv(venv: Path, packages: list[str], *, timeout_s: float = 1800) -> Path:
    """``venv`` with exactly ``packages`` installed (built now if missing: minutes, once)."""
    wanted = " ".join(packages) + "\n"
    ready = venv / ".ready"
    if ready.exists() and ready.read_text() == wanted:
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be building it
        if ready.exists() and ready.read_text() == wanted:
            return venv
        shutil.rmtree(venv, ignore_errors=True)  # a half-built or outdated one
        base = getattr(sys, "_base_executable", sys.executable)
        python = str(venv / "bin" / "python")
        uv = _uv()
        if uv is not None:
            _check(
                [uv, "venv", "--quiet", "--python", base, str(venv)],
                "create a virtual environment",
                timeout_s,
            )
            install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", python]
        else:
            _check([base, "-m", "venv", str(venv)], "create a virtual environment", timeout_s)
            install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _check([*install, *packages], f"install {' '.join(packages)}", timeout_s)
        ready.write_text(wanted)
    return venv


def _check(argv: list[str], what: str, timeout_s: float) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolUnavailable(f"could not {what}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolUnavailable(f"could not {what}: {tail}")
