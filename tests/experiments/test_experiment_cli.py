"""``shipyard experiment start | status | stop`` in-process over a local home, on a replayed
prediction log with late labels where the challenger is really better."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from shipyard.cli.main import main
from shipyard.monitoring.logs import log_labels
from tests.experiments.logs import write_log


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHIPYARD_URI", raising=False)
    monkeypatch.setenv("SHIPYARD_PROJECT", "fraud")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow  # a real log, labels and stores end to end
def test_start_status_stop(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        capsys, "experiment", "start", "v2", "--deployment", "fraud", "--challenger", "models:/fraud/2",
        "--share", "30", "--unit", "customer_id", "--metric", "accuracy", "--metric", "latency_ms",
        "--min-samples", "300", "--max-error-rate", "0.05",
    )  # fmt: skip
    assert code == 0, err
    assert "--route 2=30 --experiment v2 --assign-key customer_id" in out
    rng = np.random.default_rng(1)
    n = 12_000
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start_us = int((end - timedelta(hours=6)).timestamp() * 1e6)
    ts = start_us + np.sort(rng.integers(0, 6 * 3600 * 10**6, n))
    arm = (rng.random(n) < 0.3).astype(np.int64)
    label = rng.integers(0, 2, n)
    correct = rng.random(n) < np.where(arm == 1, 0.80, 0.70)  # the challenger is 10 points better
    prediction = np.where(correct, label, 1 - label)
    ids = write_log(
        home / "predictions", "fraud", ts_us=ts, arm=arm, prediction=prediction, latency_ms=rng.gamma(2, 5, n)
    )
    labelled = rng.random(n) < 0.8  # a fifth of the labels have not arrived
    log_labels(
        [i for i, keep in zip(ids, labelled, strict=True) if keep],
        label[labelled].tolist(),
        deployment="fraud",
        log_dir=str(home / "predictions"),
    )
    code, out, err = _run(capsys, "experiment", "status", "v2", "--json")
    assert code == 0, err
    found = json.loads(out)["experiments"][0]
    assert found["decision"] == "better"
    assert found["srm_p"] > 0.001
    assert sum(found["requests"]) == n
    accuracy = found["metrics"][0]
    assert accuracy["name"] == "accuracy" and len(accuracy["windows"]) >= 6
    low, high = accuracy["windows"][-1]["cs"]
    assert 0 < low < 0.1 < high  # the always-valid interval holds the true +10 points
    assert found["metrics"][1]["decision"] in ("not yet known", "not worse")  # same latency
    code, out, _ = _run(capsys, "experiment", "status", "v2")
    assert code == 0 and "decision: better" in out and "accuracy (higher is better)" in out
    code, out, _ = _run(capsys, "experiment", "stop", "v2", "--reason", "done")
    assert code == 0 and "stopped" in out
    code, out, _ = _run(capsys, "experiment", "status", "--json")
    assert json.loads(out)["experiments"][0]["status"] == "stopped"


def test_bad_input_is_one_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        capsys,
        "experiment",
        "start",
        "x",
        "--deployment",
        "fraud",
        "--challenger",
        "models:/fraud/2",
        "--metric",
        "f2",
    )
    assert code == 1 and err.startswith("error: metrics.0.name: metric 'f2'") and err.count("\n") == 1
    code, _, err = _run(capsys, "experiment", "status", "nope")
    assert code == 1 and "no experiment 'nope'" in err


@pytest.mark.slow  # a real log, labels and stores end to end
def test_log_outcome_is_a_business_metric(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shipyard

    code, _, err = _run(
        capsys, "experiment", "start", "rev", "--deployment", "shop", "--challenger", "models:/shop/2",
        "--share", "50", "--metric", "outcome:revenue", "--min-samples", "200",
    )  # fmt: skip
    assert code == 0, err
    rng = np.random.default_rng(2)
    n = 4000
    now_us = int(datetime.now(UTC).timestamp() * 1e6)
    ts = now_us - 3 * 3600 * 10**6 + np.sort(rng.integers(0, 3 * 3600 * 10**6, n))
    arm = rng.integers(0, 2, n)
    ids = write_log(
        home / "predictions", "shop", ts_us=ts, arm=arm, prediction=np.zeros(n), latency_ms=np.ones(n)
    )
    buyers = rng.random(n) < np.where(arm == 1, 0.30, 0.20)
    for rid in np.asarray(ids)[buyers][:5]:
        shipyard.log_outcome(str(rid), "revenue", 10.0)
    from shipyard.experiments.outcomes import log_outcomes

    rest = [str(r) for r in np.asarray(ids)[buyers][5:]]
    log_outcomes(rest, "revenue", [10.0] * len(rest))
    code, out, err = _run(capsys, "experiment", "status", "rev", "--json")
    assert code == 0, err
    found = json.loads(out)["experiments"][0]
    assert found["decision"] == "better"
    last = found["metrics"][0]["windows"][-1]
    assert last["cum_n"] == [int((arm == 0).sum()), int((arm == 1).sum())]  # no outcome counts as 0
    with pytest.raises(Exception, match="finite number"):
        shipyard.log_outcome("r-0-1", "revenue", float("nan"))


def test_promote_refuses_what_does_not_exist(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "promote", "fraud", "--from", "feature-x", "--to", "production")
    assert (
        code == 1 and err.startswith("error: no service 'fraud' in fraud/production") and err.count("\n") == 1
    )
