"""The examples run as written."""

from __future__ import annotations

from pathlib import Path

from shipyard.core.entities import RunStatus
from shipyard.core.settings import load_settings
from shipyard.runtime.api import RunOptions, run_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_hello_flow() -> None:
    run = run_file(EXAMPLES / "hello_flow.py", {"n": "100"}, load_settings(), RunOptions(max_workers=2))
    assert run.status is RunStatus.SUCCEEDED
    assert run.output == 328350


def test_train_flow_fans_out_logs_metrics_and_picks_the_best() -> None:
    params = {"cs": "0.1,1", "trees": "10", "metric": "accuracy"}
    run = run_file(EXAMPLES / "train_flow.py", params, load_settings(), RunOptions(max_workers=2))
    assert run.status is RunStatus.SUCCEEDED, run.error
    out = run.output
    assert out["best"] in {"logreg_C0.1", "logreg_C1", "forest_10"}
    assert out["accuracy"] > 0.9
    assert len(out["ranking"]) == 3
    metrics = run.info.metrics
    assert metrics["best/accuracy"] == out["accuracy"]
    assert {"logreg_C0.1/accuracy", "logreg_C1/f1", "forest_10/auc"} <= set(metrics)
    assert len([t for t in run.tasks if t.step == "train"]) == 3
