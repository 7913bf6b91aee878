"""`shipyard init` / `shipyard templates list`: rendering and the one-line errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from shipyard.cli.main import main

TEMPLATES = ("training", "batch", "stream", "explainability")


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_templates_list_names_the_four(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list(TEMPLATES)


def test_init_renders_a_git_project_with_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "table.csv"
    data.write_text("a,target\n1,0\n")
    code = main(
        [
            "init",
            "fraud-model",
            "-t",
            "training",
            "--orchestrator",
            "argo",
            "--data",
            str(data),
            "-C",
            str(tmp_path),
        ]
    )
    assert code == 0, capsys.readouterr().err
    project = tmp_path / "fraud-model"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "fraud-model" and answers["model_name"] == "fraud_model"
    assert answers["orchestrator"] == "argo" and answers["shipyard_template"] == "training"
    assert answers["_commit"].startswith("0.") and answers["data_path"] == str(data.resolve())
    for name in (
        ".github/workflows/shipyard.yml",
        "Dockerfile",
        "requirements.txt",
        "requirements.lock",
        "Makefile",
        "README.md",
        "shipyard.yaml",
        "flows/train.py",
        "flows/config.py",
        "tests/test_steps.py",
        ".gitignore",
    ):
        assert (project / name).is_file(), name
    assert f'DATA_PATH = "{data.resolve()}"' in (project / "flows/config.py").read_text()
    makefile = (project / "Makefile").read_text()
    assert "export argo" in makefile and "\t$(SHIPYARD) run $(FLOW)" in makefile
    assert "models:/fraud_model@candidate" in (project / "shipyard.yaml").read_text()
    assert "{{" not in (project / "README.md").read_text()
    log = subprocess.run(["git", "log", "--oneline"], cwd=project, capture_output=True, text=True, check=True)
    assert "shipyard init fraud-model" in log.stdout
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True)
    assert status.stdout == ""
    assert main(["validate", str(project / "shipyard.yaml")]) == 0


@pytest.mark.parametrize(
    ("template", "orchestrator"),
    [("training", "airflow"), ("batch", "argo"), ("stream", "argo"), ("explainability", "local")],
)
def test_every_spec_is_valid(tmp_path: Path, template: str, orchestrator: str) -> None:
    from shipyard.deploy.spec.load import load_spec
    from shipyard.templates import init_project

    project = init_project("p", tmp_path, template, orchestrator=orchestrator, git=False)
    spec = load_spec(project / "shipyard.yaml")
    assert set(spec.environments) == {"dev", "staging", "production"}
    makefile = (project / "Makefile").read_text()
    assert "{{" not in makefile and "\nrun:" in makefile and "\ntest:" in makefile
    if orchestrator != "local" and template != "explainability":
        assert f"export {orchestrator}" in makefile
    assert not (project / ".git").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["init", "x", "-t", "nope"],
            "unknown template 'nope': use one of training, batch, stream, explainability",
        ),
        (["init", "Bad_Name"], "project name 'Bad_Name'"),
        (["init", "x", "--orchestrator", "k8s"], "orchestrator 'k8s': use one of local, argo, airflow"),
        (["init", "x", "--data", "/no/such.csv"], "no such file"),
        (["init"], "give the project a NAME"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main([*args, "-C", str(tmp_path)]) != 0
    assert message in _error_line(capsys)
    assert not (tmp_path / "x").exists()


def test_an_existing_folder_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["init", "taken", "-C", str(tmp_path)]) == 1
    assert "already exists and is not empty" in _error_line(capsys)
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]


def test_a_folder_without_copier_yml_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tpl").mkdir()
    assert main(["init", "x", "-t", str(tmp_path / "tpl"), "-C", str(tmp_path)]) == 1
    assert "has no copier.yml" in _error_line(capsys)


def test_update_explains_what_it_needs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--update", "-C", str(tmp_path)]) == 1
    assert "has no .copier-answers.yml" in _error_line(capsys)

    assert main(["init", "plain", "-t", "batch", "--no-git", "-C", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["init", "--update", "-C", str(tmp_path / "plain")]) == 1
    assert "is not a git repository" in _error_line(capsys)

    assert main(["init", "tracked", "-t", "batch", "-C", str(tmp_path)]) == 0
    capsys.readouterr()
    (tmp_path / "tracked" / "README.md").write_text("edited\n")
    assert main(["init", "--update", "-C", str(tmp_path / "tracked")]) == 1
    assert "has uncommitted changes" in _error_line(capsys)
    assert main(["init", "again", "--update", "-C", str(tmp_path / "tracked")]) == 1
    assert "--update takes no NAME" in _error_line(capsys)


def test_remote_templates_are_passed_to_copier_as_given(tmp_path: Path) -> None:
    from shipyard.templates.render import resolve_source

    assert resolve_source("gh:acme/ml-template", tmp_path) == ("gh:acme/ml-template", None)
    assert resolve_source("https://git.example.com/t.git", tmp_path) == (
        "https://git.example.com/t.git",
        None,
    )
    source, ref = resolve_source("stream", tmp_path)  # a built-in: its git mirror, at its newest tag
    assert source == str(tmp_path / "stream") and ref is not None and ref.startswith("0.")
    assert resolve_source("stream", tmp_path) == (source, ref)  # unchanged files: no new version
