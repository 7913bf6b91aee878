"""What each template's Dockerfile builds, without Docker (no container runtime or registry here):
a fresh Python 3.11 environment made by the image's own install lines — the lock with
``--require-hashes --no-deps``, then shipyard itself without dependencies (this checkout, standing in
for the ``shipyard==X`` on PyPI that requirements.txt names), then ``pip check`` — in which the
rendered project's own tests pass with nothing from the development environment on the path.

A lock that misses a package some pinned package needs fails ``pip check`` here (``--no-deps``
would install it silently incomplete), and one that pins a release the project's code does not
work with fails the project's tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.templates import init_project
from tests.services import require, require_pypi
from tests.templates.locks import uv_binary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[2]
TEMPLATES = ("training", "batch", "stream", "explainability")
# the Dockerfile's install lines (checked below against each rendered Dockerfile)
LOCK_LINE = "pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock"
OWN_LINE = "pip install --no-cache-dir --no-deps -r requirements.txt"


def _clean_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PYTHON", "VIRTUAL_ENV"))}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """shipyard built from this checkout (as the release on PyPI would be)."""
    require_pypi()
    uv = uv_binary()
    require(uv is not None, "uv is not installed (pip install 'shipyard[envs]')")
    out = tmp_path_factory.mktemp("wheel")
    _run([str(uv), "build", "--wheel", "--quiet", "-o", str(out), str(REPO)], REPO, dict(os.environ))
    (found,) = out.glob("shipyard-*.whl")
    return found


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[dict[str, tuple[Path, Path]]]:
    """Each template rendered, and its image's environment built (the four side by side)."""
    uv = str(uv_binary())
    root = tmp_path_factory.mktemp("images")
    built: dict[str, tuple[Path, Path]] = {}
    started = []
    for template in TEMPLATES:
        project = init_project(f"{template}-img", root, template, cache_dir=root / "cache", finish=None)
        venv = root / f"venv-{template}"
        env = _clean_env(venv)
        script = " && ".join(
            [
                f'"{uv}" venv --quiet --python "{sys.executable}" "{venv}"',
                f'"{uv}" pip install --quiet --require-hashes --no-deps -r requirements.lock',
                f'"{uv}" pip install --quiet --no-deps "{wheel}"',
                f'"{uv}" pip check',
            ]
        )
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append((template, project, venv, process))
    for template, project, venv, process in started:
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"{template}: the image's install failed:\n{output[-4000:]}"
        built[template] = (project, venv)
    yield built


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_image_environment_runs_the_projects_tests(
    images: dict[str, tuple[Path, Path]], template: str
) -> None:
    project, venv = images[template]
    dockerfile = (project / "Dockerfile").read_text()
    assert LOCK_LINE in dockerfile and OWN_LINE in dockerfile and "pip check" in dockerfile
    python = venv / "bin" / "python"
    env = _clean_env(venv)
    env["SHIPYARD_HOME"] = str(project.parent / f"home-{template}")
    # nothing from the development environment: shipyard and its dependencies come from the venv
    where = _run([str(python), "-c", "import shipyard, sklearn; print(shipyard.__file__)"], project, env)
    assert where.strip().startswith(str(venv)), where
    output = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], project, env)
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) > 0 and " failed" not in output, output[-3000:]


def test_a_lock_missing_a_dependency_fails_the_check(
    images: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    """The check above can fail: the same install without one package a pinned one requires."""
    project, _ = images["training"]
    uv = str(uv_binary())
    lock = (project / "requirements.lock").read_text()
    # drop joblib (scikit-learn requires it) with its hash lines
    kept = re.sub(r"(?m)^joblib==[^\n]*\n(?:    [^\n]*\n)*", "", lock)
    assert kept != lock
    (tmp_path / "requirements.lock").write_text(kept)
    venv = tmp_path / "venv"
    env = _clean_env(venv)
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path, env)
    _run(
        [uv, "pip", "install", "--quiet", "--require-hashes", "--no-deps", "-r", "requirements.lock"],
        tmp_path,
        env,
    )
    check = subprocess.run([uv, "pip", "check"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert check.returncode != 0 and "joblib" in (check.stdout + check.stderr)
