"""The experiment reader takes each row's logged experiment and arm (what the agent's router told
the services): a challenger deployment's own traffic and rows of other experiments are left out,
and logs written before arms were logged still read as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from shipyard.experiments.config import ExperimentSpec
from shipyard.experiments.data import arms_of, read_rows
from shipyard.serving.predlog import LogEntry, entries_table, read_prediction_log

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _segment(
    log_dir: Path, deployment: str, seq: int, rows: list[tuple[str | None, str | None]], version: int = 1
) -> None:
    """One segment of ``deployment`` with a row per (experiment, arm); (None, None): no arm."""
    entries = [
        LogEntry(
            f"{deployment}-{seq}-{i}",
            T0 + timedelta(seconds=seq * 1000 + i),
            "fraud",
            version,
            "primary",
            5.0,
            {"x": [float(i)]},
            [1],
            None,
            arm=arm,
            experiment=experiment,
        )
        for i, (experiment, arm) in enumerate(rows)
    ]
    folder = log_dir / deployment / T0.date().isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(entries_table(entries, deployment), folder / f"000000-1-{seq:06d}.parquet")


def _spec(challenger: str = "beta") -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {"deployment": "api", "challenger": challenger, "share": 30, "metrics": [{"name": "latency_ms"}]}
    )


def _counts(log_dir: Path, spec: ExperimentSpec, name: str | None = "ab") -> tuple[int, int]:
    rows = read_rows(spec, str(log_dir), None, None, name)
    return int((rows.arm == 0).sum()), int((rows.arm == 1).sum())


def test_a_challenger_deployments_own_traffic_and_other_experiments_are_left_out(tmp_path: Path) -> None:
    _segment(tmp_path, "api", 1, [(None, None)] * 3)  # before the split began: production's
    _segment(tmp_path, "api", 2, [("ab", "control")] * 7 + [("old-ab", "challenger")] * 4)
    _segment(tmp_path, "beta", 1, [("ab", "challenger")] * 5 + [(None, None)] * 9, version=3)
    assert _counts(tmp_path, _spec()) == (10, 5)
    # without the experiment's name, every logged arm is taken and beta's own rows are beta's
    assert _counts(tmp_path, _spec(), None) == (10, 18)


def test_logs_written_before_arms_were_logged_read_as_before(tmp_path: Path) -> None:
    _segment(tmp_path, "api", 1, [(None, None)] * 6)
    _segment(tmp_path, "beta", 1, [(None, None)] * 4, version=3)
    table = read_prediction_log(str(tmp_path), "api", as_arrow=True)
    assert "arm" not in table.column_names and "experiment" not in table.column_names
    assert _counts(tmp_path, _spec()) == (6, 4)  # production's log control, the challenger's its own
    # an old segment next to a new one: the missing columns read as null
    _segment(tmp_path, "api", 2, [("ab", "control")] * 2)
    log = read_prediction_log(str(tmp_path), "api")
    assert log["experiment"].isna().sum() == 6 and (log["experiment"] == "ab").sum() == 2
    assert _counts(tmp_path, _spec()) == (8, 4)


def test_a_model_version_challengers_rows_without_an_arm_go_by_their_version(tmp_path: Path) -> None:
    _segment(tmp_path, "api", 1, [(None, None)] * 3, version=2)  # the challenger's slot, not told
    _segment(tmp_path, "api", 2, [("ab", "control")] * 4 + [("ab", "challenger")] * 2)
    spec = _spec("models:/fraud/2")
    assert _counts(tmp_path, spec) == (4, 5)
    table = read_prediction_log(str(tmp_path), "api", as_arrow=True)
    assert int(np.asarray(arms_of(table, spec)).sum()) == 5  # the Arrow path agrees
