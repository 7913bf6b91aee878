"""The README's first command: examples/quickstart.py runs end to end on a fresh SHIPYARD_HOME."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quickstart_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "status=succeeded" in out and "quickstart" in out
    assert re.search(r"flow run \w+: succeeded, best ", out), out
    assert re.search(r"served version 1: predictions \[[01], ", out), out
    assert "feedback: 300 labels joined, 1 unknown request id" in out
    drift = re.search(r"drift: (\d+) of (\d+) features drifted", out)
    assert drift is not None and 0 < int(drift.group(1)) < int(drift.group(2)), out
    quality = re.search(r"quality of the last hour \((\d+) labelled of (\d+)\): (.*)", out)
    assert quality is not None and int(quality.group(1)) == 300, out  # the labelled rows count
    f1 = re.search(r"f1=([0-9.]+)", quality.group(3))
    assert f1 is not None and float(f1.group(1)) > 0.5, out
    assert "batch: scored 10000 rows" in out
    assert "training set datasets:/churn_training/1: 400 rows from customer_spend v1" in out
    assert re.search(r"by entity key: customers 7 and 8 -> \[[01], [01]\]", out), out
    # the last stage: shipyard.yaml with staging and production; production refuses the model
    assert "quickstart/staging: release 1 applied (2 created, 0 updated, 0 deleted)" in out, out
    assert "+ service classifier" in out
    refusal = r"FAIL shipyard\.yaml:\d+:\d+: production: model breast_cancer@candidate v1 is not approved"
    assert re.search(refusal + r" \(deployment classifier\)", out), out
    assert "production plan exit code 1: refused until `shipyard models approve breast_cancer 1`" in out
