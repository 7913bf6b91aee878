"""Top-level commands load on first use; the root's help lists them from the table alone."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from shipyard.cli._lazy import load_commands
from shipyard.cli.main import LAZY_COMMANDS, build_app


def _first_paragraph(command: object) -> str:
    text = getattr(command, "short_help", None) or getattr(command, "help", None) or ""
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_each_entry_loads_its_command_with_the_listed_help(name: str) -> None:
    target, listed = LAZY_COMMANDS[name]
    commands = load_commands(name, target)
    assert name in commands, f"{target} does not define {name!r}"
    assert " ".join(listed.split()) == _first_paragraph(commands[name])


def test_root_help_lists_every_command_without_importing_them() -> None:
    code = (
        "import sys\n"
        "from shipyard.cli.main import main\n"
        "code = main(['--help'])\n"
        "loaded = [m for m in sys.modules if m.startswith('shipyard.cli.') and m not in "
        "('shipyard.cli.main', 'shipyard.cli._lazy', 'shipyard.cli._help', 'shipyard.cli._fast', "
        "'shipyard.cli._root_help')]\n"
        "print('LOADED', ','.join(loaded))\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "LOADED"
    for name in LAZY_COMMANDS:
        assert f" {name} " in proc.stdout


def test_a_command_loads_only_its_module() -> None:
    code = (
        "import sys\n"
        "from shipyard.cli.main import main\n"
        "code = main(['schema'])\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('shipyard.cli.')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.strip().splitlines()[-1]
    assert "shipyard.cli.spec" in loaded and "shipyard.cli.runs" not in loaded


def test_unknown_command_is_a_usage_error_and_eager_commands_still_work() -> None:
    app = build_app()

    @app.command("extra-eager")
    def extra() -> None:
        """Added the eager way."""
        typer.echo("eager ran")

    runner = CliRunner()
    assert runner.invoke(app, ["nosuch"]).exit_code == 2
    result = runner.invoke(app, ["extra-eager"])
    assert result.exit_code == 0 and "eager ran" in result.output
    assert "extra-eager" in runner.invoke(app, ["--help"]).output
