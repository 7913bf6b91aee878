"""Unit tests of the stream project's pieces (no store, no server)."""

import random

import pandas as pd
from features import FEATURES, patients
from loadtest import LoadResult, entity_body
from train import LABEL, patient_table


def test_patient_table_has_the_view_columns() -> None:
    now = pd.Timestamp("2026-01-01", tz="UTC")
    table = patient_table("", now)
    assert list(table.columns) == ["patient_id", "ts", *FEATURES, LABEL]
    assert table["patient_id"].is_unique and (table["ts"] == now).all()
    assert table[list(FEATURES)].notna().all().all()


def test_patient_table_from_a_csv(tmp_path) -> None:
    row = {"patient_id": 1, **{f.replace("_", " "): 1.0 for f in FEATURES}, "target": 0, "extra": 5}
    path = tmp_path / "p.csv"
    pd.DataFrame([row]).to_csv(path, index=False)
    table = patient_table(str(path), pd.Timestamp("2026-01-01", tz="UTC"))
    assert list(table.columns) == ["patient_id", "ts", *FEATURES, LABEL]


def test_the_view_is_keyed_by_patient() -> None:
    assert patients.entity.join_keys == ("patient_id",)
    assert set(patients.features) == set(FEATURES)


def test_load_test_bodies_and_percentiles() -> None:
    body = entity_body([3, 4], random.Random(0), 5)
    assert len(body["entities"]) == 5 and {e["patient_id"] for e in body["entities"]} <= {3, 4}
    result = LoadResult(4, 1, 2.0, [10.0, 20.0, 30.0, 40.0], {200: 3, 503: 1})
    assert result.percentile(50) == 30.0 and result.percentile(99) == 40.0
    assert "2/s" in result.summary() and "1 failed" in result.summary()
