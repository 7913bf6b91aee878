"""Unit tests of the dashboard's tables and of the simulated traffic (no store)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pandas as pd
from data import LABEL, labelled_table
from simulate import hourly_traffic
from views import drift_frame, importance_frame, prediction_counts, quality_frame

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def board(**fields):
    base = {"quality": [], "starts": [], "drift_scores": {}, "importance": None}
    return SimpleNamespace(**{**base, **fields})


def test_quality_frame_has_one_row_per_window_and_none_without_labels() -> None:
    windows = [
        SimpleNamespace(start=T0, metrics={"f1": 0.9}, predictions=10, labelled=10),
        SimpleNamespace(start=T0 + timedelta(hours=1), metrics={}, predictions=5, labelled=0),
    ]
    frame = quality_frame(board(quality=windows))
    assert frame["f1"].tolist()[0] == 0.9 and pd.isna(frame["f1"].tolist()[1])
    assert frame["predictions"].tolist() == [10, 5]


def test_drift_frame_keeps_the_most_drifted_features() -> None:
    starts = [T0, T0 + timedelta(hours=1)]
    scores = {"a": [0.1, 0.2], "b": [0.5, 0.9], "c": [None, 0.3]}
    frame = drift_frame(board(starts=starts, drift_scores=scores), top=2)
    assert list(frame.columns) == ["b", "c"] and len(frame) == 2


def test_importance_frame_is_sorted() -> None:
    importance = {"a": {"mean": 0.01, "std": 0.0}, "b": {"mean": 0.2, "std": 0.01}}
    assert importance_frame(board(importance=importance))["feature"].tolist() == ["b", "a"]
    assert importance_frame(board()).empty


def test_prediction_counts() -> None:
    counts = prediction_counts(pd.DataFrame({"prediction": [1, 0, 1, 1]}))
    assert dict(zip(counts["prediction"], counts["count"], strict=True)) == {"0": 1, "1": 3}
    assert prediction_counts(pd.DataFrame()).empty


def test_simulated_traffic_drifts_after_the_shift() -> None:
    table = labelled_table()
    hours = hourly_traffic(table, hours=4, per_hour=200, shift_from=2, seed=0)
    first = next(c for c in table.columns if c != LABEL)
    assert [len(h) for h in hours] == [200] * 4
    assert hours[3][first].mean() > 1.1 * hours[0][first].mean()
