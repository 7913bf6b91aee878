"""Reading an experiment's rows with DuckDB agrees with the monitoring rules: the newest label per
row wins (a row's own or its request's), failures and missing labels leave no value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from shipyard.experiments.config import ExperimentSpec
from shipyard.experiments.data import read_rows, rows_from_table
from shipyard.monitoring.logs import log_labels, read_labels, read_log
from tests.experiments.logs import write_log


def test_duckdb_rows_follow_the_newest_label_and_match_the_arrow_path(tmp_path: Path) -> None:
    n = 6
    t0 = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp() * 1e6)
    role = np.array(["primary"] * 5 + ["error"], dtype=object)
    ids = write_log(
        tmp_path, "api", ts_us=t0 + np.arange(n) * 10**6, arm=np.array([0, 1, 0, 1, 0, 1]),
        prediction=np.array([1, 1, 0, 0, 1, 1]), latency_ms=np.arange(n, dtype=float), role=role,
    )  # fmt: skip
    at = datetime(2026, 5, 2, tzinfo=UTC)
    log_labels(ids[:3], [1, 1, 1], deployment="api", log_dir=str(tmp_path), at=at)  # whole requests
    log_labels([ids[0]], [0], deployment="api", log_dir=str(tmp_path), rows=[0], at=at + timedelta(hours=1))
    log_labels([ids[1]], [0], deployment="api", log_dir=str(tmp_path), rows=[0], at=at - timedelta(hours=1))
    log_labels([ids[5]], [1], deployment="api", log_dir=str(tmp_path), at=at)
    spec = ExperimentSpec(
        deployment="api",
        challenger="models:/fraud/2",
        metrics=[{"name": "accuracy"}, {"name": "error_rate"}, {"name": "latency_ms"}],  # type: ignore[list-item]
    )
    rows = read_rows(spec, str(tmp_path), None, None)
    # r0: its own label 0 is newer than the whole 1 -> wrong; r1: whole 1 is newer -> right;
    # r2: whole 1 vs prediction 0 -> wrong; r3, r4: no label; r5 failed -> no quality value
    np.testing.assert_array_equal(rows.values["accuracy"], [0.0, 1.0, 0.0, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(rows.values["error_rate"], [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(rows.values["latency_ms"], [0, 1, 2, 3, 4, np.nan])
    np.testing.assert_array_equal(rows.arm, [0, 1, 0, 1, 0, 1])
    labels = read_labels(str(tmp_path), "api")
    table = read_log(str(tmp_path), "api", role=None)
    arrow = rows_from_table(
        table,
        spec,
        pa.Table.from_pandas(labels[["request_id", "row", "label", "seq"]], preserve_index=False),
        {},
    )
    for name in ("accuracy", "error_rate", "latency_ms"):
        np.testing.assert_array_equal(arrow.values[name], rows.values[name])


def test_labels_that_all_name_single_rows_are_joined(tmp_path: Path) -> None:
    """Only row labels, no whole-request one (the reader indexed an empty list of them)."""
    t0 = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp() * 1e6)
    ids = write_log(
        tmp_path, "api", ts_us=t0 + np.arange(4) * 10**6, arm=np.array([0, 1, 0, 1]),
        prediction=np.array([1, 1, 0, 0]), latency_ms=np.arange(4, dtype=float),
    )  # fmt: skip
    log_labels(ids[:2], [1, 0], deployment="api", log_dir=str(tmp_path), rows=[0, 0])
    spec = ExperimentSpec(deployment="api", challenger="models:/fraud/2", metrics=[{"name": "accuracy"}])  # type: ignore[list-item]
    rows = read_rows(spec, str(tmp_path), None, None)
    np.testing.assert_array_equal(rows.values["accuracy"], [1.0, 0.0, np.nan, np.nan])
