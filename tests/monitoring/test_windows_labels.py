"""Windows (boundaries, time zones), late labels joined by request id, quality per window."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, mean_absolute_error, precision_score, roc_auc_score

from shipyard.core.errors import InvalidInputError
from shipyard.monitoring.logs import join_labels, log_labels, read_labels, read_log
from shipyard.monitoring.quality import quality_over_time
from shipyard.monitoring.windows import Window, buckets, parse_span
from shipyard.serving.predlog import LogEntry, entries_table
from tests.monitoring.logutil import write_log

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_window_parsing_and_errors() -> None:
    w = Window.parse("1h", T0)
    assert (w.start, w.end) == (T0 - timedelta(hours=1), T0)
    assert Window.parse("last:500", T0).last == 500
    for bad in ("1y", "0h", "last:0", "last:x", ""):
        with pytest.raises(InvalidInputError, match="window"):
            Window.parse(bad, T0)
    assert parse_span("7d") == timedelta(days=7)


def test_buckets_align_to_the_hour_and_convert_time_zones() -> None:
    cet = timezone(timedelta(hours=1))
    start = datetime(2026, 3, 1, 11, 30, tzinfo=cet)  # 10:30 UTC
    got = buckets(start, datetime(2026, 3, 1, 12, 15, tzinfo=UTC), timedelta(hours=1))
    assert got[0] == (datetime(2026, 3, 1, 10, 30, tzinfo=UTC), datetime(2026, 3, 1, 11, 0, tzinfo=UTC))
    assert got[-1] == (datetime(2026, 3, 1, 12, 0, tzinfo=UTC), datetime(2026, 3, 1, 12, 15, tzinfo=UTC))
    assert buckets(start, start, timedelta(hours=1)) == []


def test_window_boundaries_are_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    ts = [T0 - timedelta(hours=1), T0 - timedelta(minutes=1), T0]
    write_log(tmp_path, "d", ts, {"x": [1.0, 2.0, 3.0]}, [0, 1, 0])
    got = read_log(str(tmp_path), "d", Window.parse("1h", T0))
    assert got["x"].to_pylist() == [1.0, 2.0]  # T0 - 1h included, T0 excluded
    assert read_log(str(tmp_path), "d", Window(last=1))["x"].to_pylist() == [3.0]
    assert read_log(str(tmp_path), "nothing-here", Window.parse("1h", T0)).num_rows == 0


def test_unknown_request_ids_are_counted_not_stored(tmp_path: Path) -> None:
    ids = write_log(tmp_path, "d", [T0, T0], {"x": [1.0, 2.0]}, [0, 1])
    result = log_labels([ids[0], "nope-1", "nope-2"], [1, 0, 1], deployment="d", log_dir=str(tmp_path))
    assert (result.received, result.matched, result.unknown) == (3, 1, 2)
    assert result.unknown_ids == ["nope-1", "nope-2"]
    with pytest.raises(InvalidInputError, match="same length"):
        log_labels(["a"], [1, 2], deployment="d", log_dir=str(tmp_path))


def test_classification_quality_per_window_matches_sklearn_and_late_labels_count(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 400
    ts = [T0 + timedelta(minutes=int(m)) for m in np.sort(rng.integers(0, 120, n))]
    y = rng.integers(0, 2, n)
    proba = np.clip(y * 0.6 + rng.uniform(0, 0.5, n), 0, 1)
    pred = (proba > 0.5).astype(int)
    ids = write_log(
        tmp_path, "d", ts, {"x": rng.normal(size=n)}, pred.tolist(), proba=[[1 - p, p] for p in proba]
    )
    # labels for the first window arrive much later than the predictions: they still count there
    log_labels(ids, y.tolist(), deployment="d", log_dir=str(tmp_path), at=T0 + timedelta(days=3))
    rows = quality_over_time(str(tmp_path), "d", T0, T0 + timedelta(hours=3), timedelta(hours=1))
    assert [r.labelled for r in rows[:2]] == [r.predictions for r in rows[:2]] and rows[0].labelled > 0
    first = np.array([t < T0 + timedelta(hours=1) for t in ts])
    got = rows[0].metrics
    assert got["f1"] == pytest.approx(f1_score(y[first], pred[first]))
    assert got["precision"] == pytest.approx(precision_score(y[first], pred[first]))
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y[first], proba[first]))
    assert rows[2].note == "no data" and rows[2].metrics == {}  # no division by zero


def test_regression_quality_and_newest_label_wins(tmp_path: Path) -> None:
    ids = write_log(tmp_path, "r", [T0, T0], {"x": [1.0, 2.0]}, [1.5, 2.5])
    log_labels(ids, [9.0, 9.0], deployment="r", log_dir=str(tmp_path), at=T0)
    log_labels(ids, [1.0, 3.25], deployment="r", log_dir=str(tmp_path), at=T0 + timedelta(hours=1))
    row = quality_over_time(str(tmp_path), "r", T0, T0 + timedelta(hours=1), timedelta(hours=1))[0]
    assert row.metrics["mae"] == pytest.approx(mean_absolute_error([1.0, 3.25], [1.5, 2.5]))
    assert row.metrics["rmse"] == pytest.approx(np.sqrt((0.25 + 0.5625) / 2))


def test_predictions_without_labels_say_so(tmp_path: Path) -> None:
    write_log(tmp_path, "u", [T0], {"x": [1.0]}, [1])
    row = quality_over_time(str(tmp_path), "u", T0, T0 + timedelta(hours=1), timedelta(hours=1))[0]
    assert (row.predictions, row.labelled, row.note) == (1, 0, "no labels yet")


def _write_requests(log_dir: Path, deployment: str, rows: list[int]) -> list[str]:
    """One request per element of ``rows`` with that many rows; returns the request ids."""
    ids = [f"q{i}" for i in range(len(rows))]
    entries = [
        LogEntry(rid, T0, "m", 1, "primary", 1.0, {"x": [float(j) for j in range(k)]}, [0] * k, None)
        for rid, k in zip(ids, rows, strict=True)
    ]
    folder = log_dir / deployment / T0.strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(entries_table(entries, deployment), folder / "000000-1-000000.parquet")
    return ids


def _joined(log_dir: Path, deployment: str) -> dict[tuple[str, int], object]:
    frame = read_log(str(log_dir), deployment, Window(T0, T0 + timedelta(hours=1)), columns=["prediction"])
    joined = join_labels(frame.to_pandas(), read_labels(str(log_dir), deployment))
    return {
        (r, int(i)): (None if pd.isna(v) else v)
        for r, i, v in zip(joined["request_id"], joined["row"], joined["label"], strict=True)
    }


def test_a_newer_whole_request_label_overrides_an_older_row_label(tmp_path: Path) -> None:
    ids = _write_requests(tmp_path, "d", [2, 2])
    log_labels(ids, [5, 6], rows=[0, 1], deployment="d", log_dir=str(tmp_path), at=T0)  # row labels first
    log_labels([ids[0]], [7], deployment="d", log_dir=str(tmp_path), at=T0 + timedelta(minutes=5))
    log_labels([ids[1]], [8], rows=[1], deployment="d", log_dir=str(tmp_path), at=T0 + timedelta(minutes=9))
    got = _joined(tmp_path, "d")
    # q0: the whole-request label (newer) replaces row 0's own label; q1 row 1: its own label
    assert got == {("q0", 0): 7, ("q0", 1): 7, ("q1", 0): None, ("q1", 1): 8}


label_event = st.tuples(st.integers(0, 2), st.integers(-1, 2), st.integers(0, 99), st.booleans())


@settings(max_examples=15, deadline=None)
@given(st.lists(label_event, min_size=1, max_size=6))
def test_newest_label_wins_over_any_interleaving_of_row_and_request_labels(
    events: list[tuple[int, int, int, bool]],
) -> None:
    """Each event labels one request (``row`` -1) or one row of it, later than the one before
    (or at the same instant, when ``same_time``); every row gets the last label that covered it."""
    with tempfile.TemporaryDirectory() as folder:
        log_dir = Path(folder)
        ids = _write_requests(log_dir, "d", [3, 3, 3])
        expected: dict[tuple[str, int], object] = {(r, i): None for r in ids for i in range(3)}
        at = T0
        for request, row, label, same_time in events:
            at = at if same_time else at + timedelta(seconds=1)
            rows = None if row < 0 else [row]
            log_labels([ids[request]], [label], rows=rows, deployment="d", log_dir=str(log_dir), at=at)
            for i in range(3) if row < 0 else [row]:
                expected[ids[request], i] = label
        assert _joined(log_dir, "d") == expected
