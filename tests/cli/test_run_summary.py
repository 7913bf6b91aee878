"""``shipyard run`` ends with a summary: status, duration, output, where the run is stored, next steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FLOW = """
from shipyard import flow, step


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def total(xs: list[int], fail: bool) -> dict:
    if fail:
        raise ValueError("the total went wrong")
    return {"total": sum(xs), "note": "x" * 500}


@flow
def summed(n: int = 4, fail: bool = False):
    return total(numbers(n), fail)
"""


@pytest.fixture
def flow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "summed.py"
    path.write_text(FLOW)
    return path


def test_success_summary_names_status_output_store_and_next_command(cli: Any, flow_file: Path) -> None:
    result = cli("run", str(flow_file), "-p", "n=5")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    run_id = lines[0].split()[1]
    assert lines[0].startswith(f"run {run_id} succeeded in ") and "(summed)" in lines[0]
    output = next(line for line in lines if line.strip().startswith("output"))
    assert '"total": 10' in output and output.rstrip().endswith("…") and len(output) < 140  # short
    stored = next(line for line in lines if "stored in" in line)
    assert stored.rstrip().endswith("shipyard.db")
    assert any(line.strip() == f"next       shipyard runs show {run_id}" for line in lines), lines
    assert "resume" not in result.out
    assert cli("runs", "show", run_id, "--json").json()["status"] == "succeeded"


def test_failure_summary_points_at_logs_and_resume(cli: Any, flow_file: Path) -> None:
    result = cli("run", str(flow_file), "-p", "fail=true")
    assert result.code == 1
    run_id = result.out.split()[1]
    assert f"run {run_id} failed in " in result.out
    assert "ValueError: the total went wrong" in result.out
    assert f"shipyard resume {run_id}" in result.out and f"shipyard logs {run_id}" in result.out
    assert "output " not in result.out


def test_quiet_prints_only_the_id_and_json_has_the_summary(cli: Any, flow_file: Path) -> None:
    quiet = cli("run", str(flow_file), "-q")
    assert quiet.code == 0 and len(quiet.out.split()) == 1
    data = cli("run", str(flow_file), "--json").json()
    assert data["status"] == "succeeded" and data["output"]["total"] == 6
    assert data["duration_s"] >= 0 and data["store"].endswith("shipyard.db")
    assert data["next"] == [f"shipyard runs show {data['run_id']}"]
    failed = cli("run", str(flow_file), "-p", "fail=true", "--json").json()
    assert failed["next"][:2] == [f"shipyard logs {failed['run_id']}", f"shipyard resume {failed['run_id']}"]


def test_store_label_never_prints_credentials() -> None:
    from shipyard.cli._output import store_label

    assert store_label("sqlite:////tmp/h/shipyard.db") == "/tmp/h/shipyard.db"
    assert (
        store_label("postgresql+psycopg://bob:s3cret@db.local:5432/ml")
        == "postgresql+psycopg://db.local:5432/ml"
    )
    assert store_label("https://tok@shipyard.example.com/") == "https://shipyard.example.com/"


def test_name_and_tags_go_on_the_run(cli: Any, flow_file: Path) -> None:
    result = cli("run", str(flow_file), "--name", "baseline", "--tag", "team=fraud", "-t", "try=2", "--json")
    assert result.code == 0, result.err
    run = cli("runs", "show", result.json()["run_id"], "--json").json()
    assert run["name"] == "baseline"
    assert (
        run["tags"]["team"] == "fraud"
        and run["tags"]["try"] == "2"
        and run["tags"]["shipyard.kind"] == "flow"
    )
    for bad, message in (
        (["--tag", "team"], "tag 'team' is not KEY=VALUE"),
        (["--tag", "shipyard.kind=x"], "the shipyard. prefix is reserved"),
    ):
        refused = cli("run", str(flow_file), *bad)
        assert refused.code == 2 and refused.err.startswith("error: ") and message in refused.err
        assert len(refused.err.splitlines()) == 1
    assert cli("run", str(flow_file), "--name", "a/b").err.startswith("error: run name 'a/b'")
