"""Unit tests of the training steps (plain functions outside a flow: no store needed)."""

import pandas as pd
import pytest
from train import LABEL, build_features, grid, make_model, model_label, rank, read_table, scores, split


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return build_features(read_table(""))


def test_features_are_numeric_snake_case_and_complete(table: pd.DataFrame) -> None:
    assert LABEL in table.columns
    assert all(c == c.lower() and " " not in c for c in table.columns)
    assert table.notna().all().all()
    assert set(table[LABEL].unique()) == {0, 1}


def test_features_fill_missing_values() -> None:
    raw = pd.DataFrame({"Mean Size": [1.0, None, 3.0], "name": ["a", "b", "c"], "target": [0, 1, 0]})
    out = build_features(raw)
    assert list(out.columns) == ["mean_size", LABEL]
    assert out["mean_size"].tolist() == [1.0, 2.0, 3.0]


def test_grid_fans_out_one_config_per_value() -> None:
    configs = grid([0.1, 1.0], [10])
    assert [model_label(c) for c in configs] == ["logreg_C0.1", "logreg_C1", "forest_10"]


def test_a_model_beats_chance(table: pd.DataFrame) -> None:
    x_train, x_test, y_train, y_test = split(table, 0.25, 0)
    model = make_model({"model": "logreg", "C": 1.0}, 0).fit(x_train, y_train)
    result = scores(y_test, model.predict(x_test), model.predict_proba(x_test)[:, 1])
    assert result["f1"] > 0.9 and result["auc"] > 0.9


def test_rank_picks_the_best_by_metric() -> None:
    results = [
        {"name": "a", "config": {}, "accuracy": 0.9, "f1": 0.8, "auc": 0.95},
        {"name": "b", "config": {}, "accuracy": 0.8, "f1": 0.9, "auc": 0.90},
    ]
    assert rank(results, "f1")[0]["name"] == "b"
    assert [r["name"] for r in rank(results, "auc")] == ["a", "b"]
