"""Every built-in template, rendered into a tmp folder, passes its own tests, its `make run` and
`make deploy ENV=staging` against a fresh store (its own SHIPYARD_HOME): a template that does not
work fails shipyard's CI.

The four projects are rendered once (as `shipyard init` does: its CI workflow written by
`shipyard ci init`'s generator) and run side by side (one process tree each) in a module fixture;
each test then checks what its project left in its store, and `make lock` in each rendered project
(uv, PyPI) leaves its requirements.lock as shipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.cli.templates import write_ci
from shipyard.templates import init_project
from tests.services import require, require_pypi
from tests.templates.locks import lock_flags, uv_binary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SRC = Path(__file__).resolve().parents[2] / "src"
TEMPLATES = ("training", "batch", "stream", "explainability")


@dataclass
class Outcome:
    project: Path
    home: Path
    returncode: int
    output: str
    seconds: float


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "MAKE"))}
    env["SHIPYARD_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    root = tmp_path_factory.mktemp("rendered")
    cache = tmp_path_factory.mktemp("cache")
    tools = f'PYTHON="{sys.executable}" SHIPYARD="{sys.executable} -m shipyard.cli.main"'
    started: dict[str, tuple[Path, Path, subprocess.Popen[str], float]] = {}
    for template in TEMPLATES:
        project = init_project(
            f"{template}-demo", root, template, cache_dir=cache, finish=lambda p: write_ci(p, "github")
        )
        home = root / f"home-{template}"
        script = f"make test {tools} && make run {tools} && make deploy ENV=staging {tools}"
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=project,
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started[template] = (project, home, process, time.monotonic())
    results = {}
    for template, (project, home, process, t0) in started.items():
        output, _ = process.communicate(timeout=840)
        results[template] = Outcome(project, home, process.returncode, output, time.monotonic() - t0)
    yield results


def _ran(outcome: Outcome) -> None:
    assert outcome.returncode == 0, outcome.output[-4000:]
    assert " passed" in outcome.output and " failed" not in outcome.output.split("passed")[0][-40:]
    assert "/staging: release 1 applied" in outcome.output  # make deploy ENV=staging


def _stores(home: Path):
    from shipyard.core.settings import load_settings
    from shipyard.tracking.stores import open_stores

    return open_stores(load_settings(home=home))


def test_training(outcomes: dict[str, Outcome]) -> None:
    from shipyard.registry.card import build_card
    from shipyard.registry.service import ModelRegistry

    outcome = outcomes["training"]
    _ran(outcome)
    stores = _stores(outcome.home)
    try:
        model = ModelRegistry(stores).get_model("training_demo")
        assert model.latest_version == 1 and model.aliases == {"candidate": 1}
        registry = ModelRegistry(stores)
        card = build_card(registry, registry.resolve("models:/training_demo@candidate"))
        assert card.metrics["f1"] > 0.9 and "best of 3 by f1" in card.description
    finally:
        stores.close()


def test_batch(outcomes: dict[str, Outcome]) -> None:
    import shipyard

    outcome = outcomes["batch"]
    _ran(outcome)
    stores = _stores(outcome.home)
    try:
        scored = shipyard.load_dataset("datasets:/batch_demo_scores/1", stores=stores)
        assert len(scored) == 442 and scored["prediction"].notna().all()
        assert set(scored["model_version"]) == {1}
    finally:
        stores.close()


def test_stream(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["stream"]
    _ran(outcome)
    out = outcome.output
    assert "load test: 300 requests" in out and ", 0 failed;" in out
    assert "labels: " in out and "monitor stream-demo-health on stream-demo" in out
    assert "stream-demo-health: " in out and " checks, " in out


def test_explainability(outcomes: dict[str, Outcome]) -> None:
    from shipyard.monitoring.logs import read_labels, read_log

    outcome = outcomes["explainability"]
    _ran(outcome)
    log_dir = str(outcome.home / "predictions")
    assert read_log(log_dir, "explainability-demo").num_rows == 24 * 60
    assert len(read_labels(log_dir, "explainability-demo")) == 24 * 60


def test_make_lock_leaves_each_lock_as_shipped(outcomes: dict[str, Outcome]) -> None:
    """The shipped lock is what the project's own `make lock` writes from its requirements.txt
    (pins kept, nothing added or dropped): a changed requirements.txt, or a changed dependency of
    shipyard itself, fails here until `scripts/lock_templates.py` is run."""
    require_pypi()
    uv = uv_binary()
    require(uv is not None, "uv is not installed (pip install 'shipyard[envs]')")
    started = {}
    for template, outcome in outcomes.items():
        project = outcome.project
        assert (project / ".github/workflows/shipyard.yml").is_file()
        flags = lock_flags(
            project / "requirements.txt", SRC.parent, project.parent / f"{template}-overrides.txt"
        )
        started[template] = subprocess.Popen(
            ["make", "--no-print-directory", "lock", f"UV={uv}", f"LOCK_FLAGS={' '.join(flags)}"],
            cwd=project,
            env=_env(outcome.home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    for template, process in started.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"{template}: {output[-3000:]}"
        changed = subprocess.run(
            ["git", "diff", "--stat", "--", "requirements.lock"],
            cwd=outcomes[template].project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert changed == "", (
            f"{template}: make lock changed the lock ({changed.strip()}): run scripts/lock_templates.py"
        )
