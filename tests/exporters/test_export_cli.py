"""`shipyard export argo`: writes the YAML (or prints it); a user's mistake is one line, exit 1,
before anything is written."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.cli.main import main

FLOWS = Path(__file__).resolve().parents[1] / "flows" / "flows_for_tests"
IMAGE = "registry.example/fraud:1"


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int, *words: str) -> None:
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


def test_export_writes_the_workflow_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], validate_argo: Callable[[Mapping[str, Any]], None]
) -> None:
    out = tmp_path / "deploy" / "workflow.yaml"
    argv = ["export", "argo", str(FLOWS / "fanout.py"), "--flow", "hello", "-p", "n=7", "--image", IMAGE]
    code = main([*argv, "-o", str(out), "--namespace", "ml", "--parallelism", "20"])
    assert code == 0, capsys.readouterr().err
    assert "wrote" in capsys.readouterr().err
    doc = yaml.safe_load(out.read_text())
    validate_argo(doc)
    assert doc["kind"] == "WorkflowTemplate" and doc["metadata"]["namespace"] == "ml"
    assert doc["spec"]["parallelism"] == 20
    start = next(t for t in doc["spec"]["templates"] if t["name"] == "start")
    assert "n=7" in start["container"]["command"]
    assert start["container"]["command"][-1] == "/app/tests/flows/flows_for_tests/fanout.py"
    # without -o: the same YAML on stdout
    assert main([*argv, "--schedule", "@daily"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["kind"] == "CronWorkflow" and printed["spec"]["schedules"] == ["@daily"]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--flow", "hello", "-p", "n=ten"], ["parameter 'n' expects int"]),
        (["-p", "ten"], ["is not KEY=VALUE"]),
        (["--schedule", "every hour"], ["not a cron expression"]),
        (["--chunk", "0"], ["--chunk"]),
        (["--env-secret", "Shipyard_Env"], ["--env-secret", "not a Kubernetes name"]),
        (["--code-dir", "app"], ["--code-dir", "absolute"]),
        (["--name", "Not A Name"], ["--name"]),
        (["--flow", "nope"], ["nope"]),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], words: list[str]
) -> None:
    out = tmp_path / "workflow.yaml"
    code = main(["export", "argo", str(FLOWS / "fanout.py"), "--image", IMAGE, "-o", str(out), *extra])
    _one_line_error(capsys, code, *words)
    assert not out.exists()


def test_a_missing_flow_file_or_an_output_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["export", "argo", str(tmp_path / "missing.py"), "--image", IMAGE])
    _one_line_error(capsys, code, "missing.py", "does not exist")
    code = main(["export", "argo", str(FLOWS / "linear.py"), "--image", IMAGE, "-o", str(tmp_path)])
    _one_line_error(capsys, code, "is a folder")
