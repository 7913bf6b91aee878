"""The README's first command on a fresh virtual environment: the lean ``quickstart`` extra is all
examples/quickstart.py needs; the base install stays free of the heavy stacks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "ray", "boto3", "apache-airflow", "mlflow", "tensorflow"}


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower() for req in requirements}


def _extra(project: dict[str, object], name: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The packages an extra pulls in, its ``shipyard[...]`` self-references expanded."""
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    found: set[str] = set()
    for req in extras[name]:
        match = re.fullmatch(r"shipyard\[([\w,\s-]+)\]", req.strip())
        if match:
            for inner in match.group(1).split(","):
                if inner.strip() not in seen:
                    found |= _extra(project, inner.strip(), seen | {name})
        else:
            found |= _requirement_names([req])
    return found


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def test_base_and_quickstart_are_free_of_heavy_stacks() -> None:
    project = _project()
    dependencies = project["dependencies"]
    assert isinstance(dependencies, list)
    assert _requirement_names(dependencies) & HEAVY == set()
    quickstart = _extra(project, "quickstart")
    assert quickstart & HEAVY == set()
    assert {"scikit-learn", "skops"} <= quickstart


def test_readme_first_command_uses_the_lean_extra() -> None:
    commands = [line for line in (ROOT / "README.md").read_text().splitlines() if "pip install -e" in line]
    assert "'.[quickstart]'" in commands[0] and "examples/quickstart.py" in commands[0]
    assert "'.[dev]'" in commands[1]


def _installer(venv: Path) -> list[list[str]]:
    """Commands creating ``venv`` and installing the repository with the quickstart extra: uv
    when it is installed (its cache makes this a few seconds), else the README's pip."""
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    target = f"{ROOT}[quickstart]"
    if Path(uv).exists():
        python = shutil.which("python3.11") or sys.executable
        return [
            [uv, "venv", "--quiet", "--python", python, str(venv)],
            [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "-e", target],
        ]
    return [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "--quiet", "-e", target],
    ]


@pytest.mark.slow
def test_quickstart_runs_in_a_fresh_venv_with_the_lean_extra(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PYTHON", "VIRTUAL_ENV"))}
    started = time.monotonic()
    for cmd in _installer(venv):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"{cmd[:3]}: {done.stderr[-3000:]}"
    installed = time.monotonic() - started
    listing = "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'])"
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", listing], capture_output=True, text=True, check=True
    )
    installed_names = {line.strip().lower() for line in listed.stdout.splitlines()}
    assert {"scikit-learn", "skops", "shipyard"} <= installed_names
    assert installed_names & HEAVY == set()
    # as from a fresh clone's root (a project: .git), with nothing configured: no SHIPYARD_HOME
    repo = tmp_path / "clone"
    shutil.copytree(ROOT / "examples", repo / "examples")
    (repo / ".git").mkdir()
    run = subprocess.run(
        [str(venv / "bin" / "python"), "examples/quickstart.py"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, f"quickstart failed after a {installed:.0f} s install:\n{run.stderr[-4000:]}"
    assert "production plan exit code 1" in run.stdout  # the last stage (shipyard.yaml) ran
    assert (repo / ".shipyard" / "shipyard.db").is_file()  # the store went where the README says
