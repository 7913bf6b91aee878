"""The installed ``shipyard`` entry point, in a real subprocess."""

from __future__ import annotations

import subprocess
import sys


def _shipyard(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from shipyard.cli.main import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_unknown_run_one_line_exit_1() -> None:
    proc = _shipyard("runs", "show", "0" * 32)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_help_and_version() -> None:
    assert _shipyard("--version").stdout.startswith("shipyard ")
    helped = _shipyard("--help")
    assert helped.returncode == 0
    for command in ("runs", "artifacts"):
        assert command in helped.stdout


def test_cli_startup_does_not_import_the_heavy_stack() -> None:
    code = (
        "import sys\n"
        "from shipyard.cli.main import build_app\n"
        "build_app()\n"
        "print(','.join(m for m in ('sqlalchemy', 'pandas', 'numpy', 'pyarrow') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
