"""`shipyard init --update` (copier update): a template change is merged into a generated project
and the project's own edits are kept — for a team's template in git and for a built-in one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shipyard.templates import init_project, update_project
from shipyard.templates import render as render_mod

GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false")
pytestmark = pytest.mark.slow


def git(folder: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=folder, capture_output=True, text=True, check=True).stdout


def commit_all(folder: Path, message: str) -> None:
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", message)


def change_template(template: Path) -> None:
    """v2 of the template: a new Makefile target and a new file."""
    makefile = template / "project" / "Makefile.jinja"
    makefile.write_text(makefile.read_text() + "\nlint:\n\truff check flows tests\n")
    (template / "project" / "CHANGELOG.md").write_text("# v2: make lint\n")


def edit_project(project: Path) -> None:
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our notes\n\nKeep this.\n")
    commit_all(project, "our notes")


def assert_merged(project: Path) -> None:
    assert "\nlint:\n\truff check flows tests" in (project / "Makefile").read_text()
    assert (project / "CHANGELOG.md").read_text() == "# v2: make lint\n"
    assert "## Our notes\n\nKeep this." in (project / "README.md").read_text()
    assert "<<<<<<<" not in (project / "README.md").read_text()


def test_a_team_template_in_git_is_updated_with_a_three_way_merge(tmp_path: Path) -> None:
    template = tmp_path / "team-template"
    shutil.copytree(render_mod.templates_root() / "batch", template)
    git(template, "init", "-q")
    commit_all(template, "v1")
    git(template, "tag", "v1.0.0")

    project = init_project("scoring", tmp_path, str(template))
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v1.0.0"
    edit_project(project)

    change_template(template)
    commit_all(template, "v2")
    git(template, "tag", "v2.0.0")
    message = update_project(project)
    assert message == "updated from template version v1.0.0 to v2.0.0"
    assert_merged(project)
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v2.0.0"
    commit_all(project, "template v2")
    assert update_project(project) == "already at the template's newest version v2.0.0"


def test_a_builtin_template_is_updated_from_what_shipyard_ships(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = tmp_path / "shipped"
    shutil.copytree(render_mod.templates_root() / "training", shipped / "training")
    monkeypatch.setattr(render_mod, "templates_root", lambda: shipped)
    project = init_project("model", tmp_path, "training")
    before = yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
    edit_project(project)

    change_template(shipped / "training")  # a newer shipyard ships a changed template
    message = update_project(project)
    after = yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
    assert after != before and message == f"updated from template version {before} to {after}"
    assert_merged(project)


def test_an_update_that_drops_the_templates_own_workflow_writes_the_generated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Projects rendered when the built-in templates held a hand-written ci.yml: `shipyard init
    --update` removes it with the template and writes `shipyard ci init`'s workflow instead."""
    from shipyard.cli.main import main

    shipped = tmp_path / "shipped"
    shutil.copytree(render_mod.templates_root() / "batch", shipped / "batch")
    old_ci = shipped / "batch" / "project" / ".github" / "workflows" / "ci.yml"
    old_ci.parent.mkdir(parents=True)
    old_ci.write_text("name: ci\non: push\njobs: {}\n")
    monkeypatch.setattr(render_mod, "templates_root", lambda: shipped)
    project = init_project("scores", tmp_path, "batch")  # as an older shipyard rendered it
    assert (project / ".github/workflows/ci.yml").is_file()
    assert not (project / ".github/workflows/shipyard.yml").exists()

    shutil.rmtree(shipped / "batch" / "project" / ".github")  # this shipyard's template
    capsys.readouterr()
    assert main(["init", "--update", "-C", str(project)]) == 0
    out = capsys.readouterr().out
    assert "wrote .github/workflows/shipyard.yml" in out
    assert not (project / ".github/workflows/ci.yml").exists()
    assert "shipyard apply -e production" in (project / ".github/workflows/shipyard.yml").read_text()
