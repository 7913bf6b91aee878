"""DataFrames and Arrow tables as parquet, scikit-learn models via skops."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import pandas as hpd

from shipyard.artifacts.store import ArtifactStore
from shipyard.core.errors import SerializationError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FRAMES = hpd.data_frames(
    columns=[
        hpd.column("ints", dtype=np.int64),
        hpd.column("floats", dtype=np.float64),
        hpd.column("flags", dtype=bool),
        hpd.column("when", dtype="datetime64[ns]"),
        hpd.column("text", elements=st.text(max_size=8)),
    ],
    index=hpd.indexes(dtype=np.int64, max_size=8) | hpd.range_indexes(max_size=8),
)


@SETTINGS
@given(FRAMES)
def test_dataframes_round_trip(store: ArtifactStore, frame: pd.DataFrame) -> None:
    stored = store.put_object(frame)
    assert stored.serializer == "parquet" and not stored.unsafe
    assert stored.meta["python_type"] == "pandas.DataFrame"
    loaded = store.get_object(stored, allow_unsafe=False)
    assert type(loaded) is pd.DataFrame
    pd.testing.assert_frame_equal(loaded, frame, check_index_type=True)


def test_dataframe_keeps_named_and_string_index(store: ArtifactStore) -> None:
    frame = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="key"))
    loaded = store.get_object(store.put_object(frame))
    pd.testing.assert_frame_equal(loaded, frame)
    assert loaded.index.name == "key"


def test_dataframe_with_non_string_columns_falls_back(store: ArtifactStore) -> None:
    frame = pd.DataFrame({0: [1, 2], 1: [3, 4]})
    stored = store.put_object(frame)
    assert stored.serializer == "pickle" and stored.unsafe
    pd.testing.assert_frame_equal(store.get_object(stored, allow_unsafe=True), frame)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=6) | st.none()), max_size=20
    )
)
def test_arrow_tables_round_trip(store: ArtifactStore, rows: list[tuple[int, float, str | None]]) -> None:
    table = pa.table(
        {
            "i": pa.array([r[0] for r in rows], pa.int64()),
            "f": pa.array([r[1] for r in rows], pa.float64()),
            "s": pa.array([r[2] for r in rows], pa.string()),
        }
    )
    stored = store.put_object(table)
    assert stored.serializer == "parquet" and stored.meta["python_type"] == "pyarrow.Table"
    loaded = store.get_object(stored, allow_unsafe=False)
    assert isinstance(loaded, pa.Table)
    assert loaded.schema.equals(table.schema)
    assert loaded.select(["i", "s"]).equals(table.select(["i", "s"]))
    floats = [c.to_numpy(zero_copy_only=False).tobytes() for c in (loaded["f"], table["f"])]
    assert floats[0] == floats[1]  # bit-exact, NaN included


# scikit-learn ---------------------------------------------------------------------------------------------
def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def test_sklearn_pipeline_round_trip(store: ArtifactStore) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _data()
    for model in (
        make_pipeline(StandardScaler(), LogisticRegression()),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ):
        model.fit(x, y)
        stored = store.put_object(model)
        assert stored.serializer == "sklearn" and not stored.unsafe
        loaded = store.get_object(stored, allow_unsafe=False)
        assert type(loaded) is type(model)
        assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))


class _Doubler:
    def __call__(self, x: Any) -> Any:
        return x * 2


def test_sklearn_with_foreign_types_is_unsafe(store: ArtifactStore) -> None:
    from sklearn.preprocessing import FunctionTransformer

    x, _ = _data()
    model = FunctionTransformer(_Doubler()).fit(x)
    stored = store.put_object(model)
    assert stored.unsafe
    with pytest.raises(SerializationError, match="allow_unsafe"):
        store.get_object(stored, name="transformer", allow_unsafe=False)
    assert np.array_equal(store.get_object(stored, allow_unsafe=True).transform(x), x * 2)
