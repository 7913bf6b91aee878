"""Sketches: merge associativity, serialization, missing values, profiles from every input kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from shipyard.core.errors import InvalidInputError
from shipyard.monitoring.profile import Profile, build_profile
from shipyard.monitoring.sketch import DISTINCT_CAP, CategoricalSketch, NumericSketch

floats = arrays(
    np.float64, st.integers(0, 300), elements=st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")))
)


@settings(max_examples=50, deadline=None)
@given(floats, floats, floats)
def test_numeric_merge_is_associative_and_commutative(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    grid = NumericSketch.empty(-10.0, 10.0, 64)
    sa, sb, sc = grid.like(a), grid.like(b), grid.like(c)
    left, right = sa.merge(sb).merge(sc), sa.merge(sb.merge(sc))
    whole = grid.like(np.concatenate([a, b, c]))
    for merged in (left, right, sc.merge(sb).merge(sa)):
        assert np.array_equal(merged.counts, whole.counts)
        assert (merged.n, merged.missing) == (whole.n, whole.missing)
        assert merged.min == whole.min and merged.max == whole.max
        assert merged.total == pytest.approx(whole.total, rel=1e-9, abs=1e-6)
        assert merged.values == whole.values  # exact distinct counts, or None past the cap on both
        assert (merged.exact is None) == (whole.exact is None)
        if merged.exact is not None and whole.exact is not None:
            assert np.array_equal(np.sort(merged.exact), np.sort(whole.exact))


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.int64, st.integers(0, 200), elements=st.integers(0, 40)),
    arrays(np.int64, st.integers(0, 200), elements=st.integers(0, 40)),
)
def test_distinct_value_counts_are_exact_up_to_the_cap(a: np.ndarray, b: np.ndarray) -> None:
    grid = NumericSketch.empty(0.0, 40.0, 64)
    merged = grid.like(a).merge(grid.like(b))
    both = np.concatenate([a, b])
    keys, counts = np.unique(both, return_counts=True)
    if len(keys) <= DISTINCT_CAP:
        assert merged.values == dict(zip(keys.astype(float).tolist(), counts.tolist(), strict=True))
    else:
        assert merged.values is None
    assert merged.integer is (True if both.size else None)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sampled_from(["x", "y", "z", None]), max_size=50),
    st.lists(st.sampled_from(["x", "w"]), max_size=50),
    st.lists(st.sampled_from(["y", "v", None]), max_size=50),
)
def test_categorical_merge_is_associative(a: list[str | None], b: list[str], c: list[str | None]) -> None:
    sa, sb, sc = (CategoricalSketch.from_values(v) for v in (a, b, c))
    left, right = sa.merge(sb).merge(sc), sa.merge(sb.merge(sc))
    assert left.counts == right.counts and left.missing == right.missing == a.count(None) + c.count(None)


def test_counts_land_in_the_right_bins_including_under_and_overflow() -> None:
    s = NumericSketch.empty(0.0, 10.0, 10, tail=1)  # one tail bin per side: the old layout
    s.add(np.array([-5.0, -0.1, 0.0, 0.5, 9.99, 10.0, 50.0, np.nan, np.inf]))
    assert s.counts.tolist() == [2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]
    assert (s.n, s.missing, s.min, s.max) == (7, 2, -5.0, 50.0)  # inf is missing, as in Evidently


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.integers(1, 200), elements=st.floats(-1e9, 1e9)))
def test_every_value_lies_inside_the_edges_of_its_bin_tails_included(values: np.ndarray) -> None:
    s = NumericSketch.empty(-1.0, 1.0, 16)
    for v in values:
        one = s.like([v])
        edges = one.edges()  # the outermost bins run to the exact min / max
        (index,) = np.flatnonzero(one.counts)
        tol = 1e-9 * max(1.0, abs(v))  # the float rounding of computing the bin
        assert edges[index] - tol <= v <= edges[index + 1] + tol


def test_profile_round_trips_through_json_and_merges() -> None:
    frame = pd.DataFrame({"a": np.arange(2000.0), "c": ["u", "v"] * 1000, "prediction": [0, 1] * 1000})
    profile = build_profile(frame, chunk_rows=300)
    assert set(profile.features) == {"a", "c"} and set(profile.outputs) == {"prediction"}
    back = Profile.from_json(profile.to_json())
    assert back.to_dict() == profile.to_dict()
    doubled = back.merge(profile)
    assert doubled.rows == 4000 and doubled.features["a"].n == 4000


def test_profiles_from_parquet_arrow_and_chunks_agree(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.integers(0, 5, 5000).astype(float)})
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pandas(frame), path, row_group_size=700)
    from_frame = build_profile(frame, chunk_rows=5000)
    for other in (
        build_profile(path),
        build_profile(pa.Table.from_pandas(frame)),
        build_profile(iter([frame.iloc[:1000], frame.iloc[1000:]])),
    ):
        assert other.rows == 5000
        got, want = other.features["a"], from_frame.features["a"]
        assert isinstance(got, NumericSketch) and isinstance(want, NumericSketch)
        # the grid comes from the first chunk, so it may differ; the exact summaries may not
        assert (got.n, got.min, got.max) == (want.n, want.min, want.max)
        assert got.total == pytest.approx(want.total) and int(got.counts.sum()) == 5000


def test_bad_inputs_have_clear_errors(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        build_profile(tmp_path / "missing.parquet")
    with pytest.raises(InvalidInputError, match="cannot profile"):
        build_profile(42)
    with pytest.raises(InvalidInputError, match="no column"):
        build_profile(pd.DataFrame({"a": [1.0]}), features=["b"])
    a = NumericSketch.empty(0, 1, 4)
    with pytest.raises(InvalidInputError, match="different grids"):
        a.merge(NumericSketch.empty(0, 2, 4))
