"""Unit tests of the scoring steps (plain functions outside a flow: no store needed)."""

import pandas as pd
from score import read_rows, score_frame, scoring
from sklearn.linear_model import LinearRegression


def test_rows_to_score_have_no_label() -> None:
    rows = read_rows("", limit=20)
    assert len(rows) == 20 and "target" not in rows.columns


def test_rows_from_a_csv(tmp_path) -> None:
    path = tmp_path / "rows.csv"
    pd.DataFrame({"a": [1.0, 2.0], "target": [0, 1]}).to_csv(path, index=False)
    assert list(read_rows(str(path)).columns) == ["a"]


def test_score_adds_predictions_and_their_model() -> None:
    rows = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    model = LinearRegression().fit(rows, [2.0, 4.0, 6.0])
    out = score_frame(model, rows, "models:/m@candidate", 3)
    assert out["prediction"].round(6).tolist() == [2.0, 4.0, 6.0]
    assert set(out["model_uri"]) == {"models:/m@candidate"} and set(out["model_version"]) == {3}
    assert list(rows.columns) == ["a"]  # the input is not changed


def test_the_flow_runs_every_night() -> None:
    assert scoring.schedule == "0 2 * * *"
