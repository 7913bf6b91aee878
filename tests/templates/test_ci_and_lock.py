"""A rendered project's CI workflow is `shipyard ci init`'s output for that project (one generator),
and its image and `make install` are built from its `requirements.lock`, which agrees with the
declared requirements (offline here; `make lock` itself in test_render_and_run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import shipyard
from shipyard.cli.main import main
from shipyard.templates.render import templates_root
from tests.templates.locks import lock_problems, read_lock

TEMPLATES = ("training", "batch", "stream", "explainability")
WORKFLOW = Path(".github/workflows/shipyard.yml")


def render(tmp_path: Path, template: str, *extra: str) -> Path:
    code = main(["init", f"{template}-demo", "-t", template, "--no-git", "-C", str(tmp_path), *extra])
    assert code == 0
    return tmp_path / f"{template}-demo"


def regenerate(project: Path, provider: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(["ci", "init", provider, "--dir", str(project), "--repo", "acme/demo", "--force"])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_workflow_is_what_ci_init_writes(
    tmp_path: Path, template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = render(tmp_path, template)
    assert "wrote .github/workflows/shipyard.yml" in capsys.readouterr().out
    written = (project / WORKFLOW).read_text()
    regenerate(project, "github", capsys)
    assert (project / WORKFLOW).read_text() == written
    workflow = yaml.safe_load(written)
    steps = [s.get("run", "") for s in workflow["jobs"]["pull-request"]["steps"]]
    assert "pip install --require-hashes --no-deps -r requirements.lock" in steps[2]  # the lock
    assert "python -m pytest -q" in steps and f"project:{template}-demo" in written
    production = [s.get("run", "") for s in workflow["jobs"]["production"]["steps"]][-1]
    if template == "batch":  # no service: no experiment, production applies the release
        assert production == "shipyard apply -e production"
        assert not any("experiment start" in s for s in steps)
    else:
        assert production == f'shipyard promote {template}-demo --from "$FROM" --to production'
        assert any(f'experiment start "$BRANCH" --deployment {template}-demo' in s for s in steps)


def test_gitlab_or_no_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = render(tmp_path / "gl", "stream", "--ci", "gitlab")
    written = (project / ".gitlab-ci.yml").read_text()
    assert not (project / WORKFLOW).exists()
    regenerate(project, "gitlab", capsys)
    assert (project / ".gitlab-ci.yml").read_text() == written
    assert "requirements.lock" in yaml.safe_load(written)["default"]["before_script"][0]

    bare = render(tmp_path / "none", "batch", "--ci", "none")
    assert not (bare / ".github").exists() and not (bare / ".gitlab-ci.yml").exists()

    capsys.readouterr()
    assert main(["init", "x", "--ci", "jenkins", "-C", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "--ci jenkins: use github, gitlab or none" in err
    assert not (tmp_path / "x").exists()


def test_a_team_template_keeps_its_own_workflow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    template = tmp_path / "team"
    shutil.copytree(templates_root() / "batch", template)
    own = template / "project" / ".github" / "workflows" / "shipyard.yml"
    own.parent.mkdir(parents=True)
    own.write_text("# ours\n")
    assert main(["init", "p", "-t", str(template), "--no-git", "-C", str(tmp_path)]) == 0
    assert "kept the template's .github/workflows/shipyard.yml" in capsys.readouterr().out
    assert (tmp_path / "p" / WORKFLOW).read_text() == "# ours\n"


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_image_and_install_use_the_lock(tmp_path: Path, template: str) -> None:
    project = render(tmp_path, template, "--ci", "none")
    dockerfile = (project / "Dockerfile").read_text()
    assert "COPY requirements.txt requirements.lock ./" in dockerfile
    assert "pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock" in dockerfile
    assert dockerfile.index("requirements.lock") < dockerfile.index("COPY . .")
    makefile = (project / "Makefile").read_text()
    assert "\t$(PYTHON) -m pip install --require-hashes --no-deps -r requirements.lock\n" in makefile
    assert "\nlock:\n" in makefile and "--generate-hashes --no-emit-package shipyard" in makefile
    assert (project / "requirements.lock").read_bytes() == (
        templates_root() / template / "project" / "requirements.lock"
    ).read_bytes()


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_lock_agrees_with_its_requirements(template: str) -> None:
    folder = templates_root() / template / "project"
    requirements, lock = (folder / "requirements.txt").read_text(), (folder / "requirements.lock").read_text()
    assert lock_problems(requirements, lock, shipyard.__version__) == []
    pins = read_lock(lock)
    assert {"scikit-learn", "pandas", "pytest", "sqlalchemy", "skops"} <= set(pins)  # shipyard[sklearn]'s too


def unhash(lock: str, name: str) -> str:
    """``lock`` with the hashes of ``name``'s pin removed."""
    kept, inside = [], False
    for line in lock.splitlines():
        if not line.startswith(" "):
            inside = line.startswith(f"{name}==")
        if inside and line.strip().startswith("--hash"):
            continue
        kept.append(line.rstrip(" \\") if inside and not line.startswith(" ") else line)
    return "\n".join(kept) + "\n"


def test_the_lock_check_can_fail() -> None:
    folder = templates_root() / "stream" / "project"
    requirements, lock = (folder / "requirements.txt").read_text(), (folder / "requirements.lock").read_text()
    version = shipyard.__version__
    assert any(
        "rich-click>=1 is declared but the lock pins nothing: run make lock" in p
        for p in lock_problems(requirements + "rich-click>=1\n", lock, version)
    )
    pandas = read_lock(lock)["pandas"][0].version
    too_new = lock_problems(requirements.replace("pandas>=2.1", "pandas>=99"), lock, version)
    assert f"pandas>=99 is declared but the lock pins {pandas}: run make lock" in too_new
    assert any("is not this shipyard (9.9.9)" in p for p in lock_problems(requirements, lock, "9.9.9"))
    assert any(
        p == "httpx==0.29.0 has no --hash"
        for p in lock_problems(requirements, unhash(lock, "httpx"), version)
    )
    # a dependency of shipyard itself that the lock misses (pyproject changed, templates not relocked)
    no_duckdb = lock.replace("\nduckdb==", "\n# duckdb==")
    assert any(p.startswith("duckdb>=") for p in lock_problems(requirements, no_duckdb, version))
