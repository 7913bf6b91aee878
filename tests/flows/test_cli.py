"""`shipyard run/resume/logs/flows list` end to end, in process, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
FLOWS = Path(__file__).resolve().parent / "flows_for_tests"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_hello_flow_and_show_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", str(ROOT / "examples" / "hello_flow.py"), "-p", "n=100", "-q")
    assert code == 0, err
    run_id = out.strip()
    code, out, err = cli(capsys, "runs", "show", run_id, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["status"] == "succeeded"
    assert data["params"] == {"n": 100}
    assert data["output"] == 328350
    squares = [t for t in data["tasks"] if t["step"] == "square"]
    assert len(squares) == 100 and squares[7]["index"] == 7
    assert all(t["status"] == "succeeded" and t["attempts"] == 1 for t in data["tasks"])
    assert data["tasks"][0]["duration_s"] is not None
    code, out, _ = cli(capsys, "runs", "show", run_id, "--graph")
    assert code == 0
    lines = out.splitlines()
    assert "hello run" in lines[0] and "succeeded" in lines[0]
    assert any("square" in line and "100 succeeded" in line and "← numbers" in line for line in lines), out
    code, out, _ = cli(capsys, "flows", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert rows[0]["flow"] == "hello" and rows[0]["last_run"] == run_id and rows[0]["status"] == "succeeded"


def test_logs_show_task_output_and_failures(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "run", str(FLOWS / "linear.py"), "-q")
    run_id = out.strip()
    code, out, _ = cli(capsys, "logs", run_id, "load")
    assert code == 0 and "==> load [succeeded] <==" in out and "loading 5" in out
    code, out, err = cli(
        capsys, "run", str(FLOWS / "faults.py"), "--flow", "failing", "-p", f"marker={tmp_path}/x", "--json"
    )
    assert code == 1
    result = json.loads(out)
    assert result["status"] == "failed" and "boom on item 2" in result["error"]
    code, out, _ = cli(capsys, "logs", result["run_id"][:12], "fragile/2")
    assert "ValueError: boom on item 2" in out
    code, _, err = cli(capsys, "logs", result["run_id"], "nosuchstep")
    assert code == 1 and "steps: fragile, prepare" in err


def test_logs_of_a_retried_task_by_attempt(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(
        capsys, "run", str(FLOWS / "faults.py"), "--flow", "retrying", "-p", "n=1", "-p",
        f"state_dir={tmp_path}", "-q",
    )  # fmt: skip
    assert code == 0
    run_id = out.strip()
    code, out, _ = cli(capsys, "logs", run_id, "flaky/0")
    assert code == 0 and "[succeeded, attempt 2 of 2]" in out
    assert "first attempt of item 0" not in out  # the succeeding attempt printed nothing
    code, out, _ = cli(capsys, "logs", run_id, "flaky/0", "--attempt", "1")
    assert code == 0 and "first attempt of item 0" in out and "attempt 1 of 2" in out
    code, _, err = cli(capsys, "logs", run_id, "flaky/0", "--attempt", "3")
    assert code == 1 and "has no attempt 3; its attempts: 1, 2" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad_import.py"], r"cannot import flow file .*bad_import\.py, line 3: ModuleNotFoundError"),
        (["no_flow.py"], r"no_flow\.py defines no @flow function"),
        (["two_flows.py"], r"defines several flows \(first, second\); pick one with --flow NAME"),
        (["two_flows.py", "--flow", "third"], r"has no flow 'third'; it defines: first, second"),
        (["fanout.py", "--flow", "hello", "-p", "n=ten"], r"parameter 'n' expects int, got 'ten'"),
        (
            ["fanout.py", "--flow", "hello", "-p", "m=1"],
            r"flow 'hello' has no parameter 'm'; parameters: n: int = 10",
        ),
        (["missing.py"], r"flow file .*missing\.py' does not exist"),
    ],
)
def test_bad_input_gives_one_line_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = cli(capsys, "run", str(FLOWS / args[0]), *args[1:], "-q")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    import re

    assert re.search(message, lines[0]), lines[0]


def test_two_flows_pick_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", str(FLOWS / "two_flows.py"), "--flow", "second", "-q", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "succeeded"


@pytest.mark.parametrize(
    ("flow_name", "message"),
    [
        ("unstorable", r"step make_lock returned a lock that cannot be stored"),
        ("map_non_list", r"step 'square' maps over the output of 'not_a_list', which is a int, not a list"),
    ],
)
def test_runtime_data_errors_fail_the_run_clearly(
    capsys: pytest.CaptureFixture[str], flow_name: str, message: str
) -> None:
    code, out, _ = cli(capsys, "run", str(FLOWS / "bad_outputs.py"), "--flow", flow_name, "--json")
    assert code == 1
    import re

    error = json.loads(out)["error"]
    assert re.search(message, error), error
