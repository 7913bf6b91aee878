"""Drift statistics from sketches against scipy on the raw data (hypothesis-generated distributions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from shipyard.monitoring import stats
from shipyard.monitoring.sketch import CategoricalSketch, NumericSketch

SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def two_samples(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["normal", "lognormal", "uniform", "exponential"]))
    n, m = draw(st.integers(50, 4000)), draw(st.integers(50, 4000))
    shift, scale = draw(st.floats(-1.0, 1.0)), draw(st.floats(0.5, 2.0))
    make = {
        "normal": lambda k, s, sc: rng.normal(s, sc, k),
        "lognormal": lambda k, s, sc: rng.lognormal(s, sc / 2, k),
        "uniform": lambda k, s, sc: rng.uniform(s, s + sc, k),
        "exponential": lambda k, s, sc: rng.exponential(sc, k) + s,
    }[kind]
    return make(n, 0.0, 1.0), make(m, shift, scale)


def _histograms_only(ref: np.ndarray, cur: np.ndarray) -> tuple[NumericSketch, NumericSketch]:
    """Sketches without their exact values, so the statistics come from the histograms."""
    sketch = NumericSketch.from_values(ref)
    window = sketch.like(cur)
    sketch.exact = window.exact = None
    return sketch, window


@SETTINGS
@given(two_samples())
def test_ks_statistic_is_within_its_documented_bound_of_scipy(samples: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = samples
    sketch, window = _histograms_only(ref, cur)
    got = stats.ks(sketch, window)
    exact = ss.ks_2samp(ref, cur)
    assert got.value - 1e-12 <= exact.statistic <= got.value + got.error_bound + 1e-12
    # with a fine grid the bound is small, so the p-value agrees with scipy's on the same statistic
    assert got.error_bound <= 0.05
    assert got.p_low is not None and got.p_value is not None
    assert got.p_low - 1e-12 <= exact.pvalue <= got.p_value + 1e-12
    # with both sides' values kept, it is scipy's
    full = stats.ks(NumericSketch.from_values(ref), NumericSketch.from_values(ref).like(cur))
    assert (full.value, full.p_value, full.exact) == (exact.statistic, exact.pvalue, True)


@SETTINGS
@given(two_samples())
def test_wasserstein_normed_matches_scipy_within_bound(samples: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = samples
    sketch, window = _histograms_only(ref, cur)
    got = stats.wasserstein_normed(sketch, window)
    exact = ss.wasserstein_distance(ref, cur) / np.std(ref)
    assert abs(got.value - exact) <= got.error_bound + 1e-9


def test_ks_detects_a_shift_and_passes_identical_distributions() -> None:
    rng = np.random.default_rng(7)
    ref = NumericSketch.from_values(rng.normal(size=20_000))
    same = stats.ks(ref, ref.like(rng.normal(size=20_000)))
    moved = stats.ks(ref, ref.like(rng.normal(0.2, 1, size=20_000)))
    assert same.p_value is not None and same.p_value > 0.01
    assert moved.p_value is not None and moved.p_value < 1e-10


@st.composite
def category_counts(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    k = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    keys = [f"c{i}" for i in range(k)]
    p = rng.dirichlet(np.ones(k) * 5)
    q = rng.dirichlet(np.ones(k) * 5)
    ref = list(rng.choice(keys, size=draw(st.integers(k * 40, 3000)), p=p))
    cur = list(rng.choice(keys, size=draw(st.integers(k * 40, 3000)), p=q))
    return ref, cur


@SETTINGS
@given(category_counts())
def test_chi_squared_and_jensen_shannon_match_scipy(samples: tuple[list[str], list[str]]) -> None:
    ref_values, cur_values = samples
    ref = CategoricalSketch.from_values(ref_values)
    cur = CategoricalSketch.from_values(cur_values)
    keys = sorted(set(ref.counts) | set(cur.counts))
    obs = np.array([cur.counts.get(k, 0) for k in keys], dtype=float)
    exp = np.array([ref.counts.get(k, 0) for k in keys], dtype=float) * len(cur_values) / len(ref_values)
    js = stats.jensen_shannon(ref, cur)
    p_ref = np.array([ref.counts.get(k, 0) for k in keys], dtype=float)
    assert js.value == pytest.approx(float(jensenshannon(p_ref / p_ref.sum(), obs / obs.sum())), abs=1e-9)
    chi = stats.chi_squared(ref, cur)
    if np.all(exp > 0):
        expected = ss.chisquare(obs, exp)
        assert chi.value == pytest.approx(expected.statistic, rel=1e-9)
        assert chi.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-12)
    else:
        assert math.isinf(chi.value) and chi.p_value == 0.0


def test_z_test_matches_the_two_proportion_formula() -> None:
    ref = CategoricalSketch.from_values(["a"] * 300 + ["b"] * 700)
    cur = CategoricalSketch.from_values(["a"] * 400 + ["b"] * 600)
    got = stats.z_test(ref, cur)
    pooled = (300 + 400) / 2000
    z = (0.3 - 0.4) / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert got.value == pytest.approx(z)
    assert got.p_value == pytest.approx(2 * ss.norm.sf(abs(z)))


def test_psi_is_zero_for_equal_and_large_for_shifted() -> None:
    rng = np.random.default_rng(3)
    ref = NumericSketch.from_values(rng.normal(size=50_000))
    assert stats.psi(ref, ref.like(rng.normal(size=50_000))).value < 0.01
    assert stats.psi(ref, ref.like(rng.normal(1.0, 1, size=50_000))).value > 0.5


def test_statistics_refuse_empty_sides_and_foreign_grids() -> None:
    from shipyard.core.errors import InvalidInputError

    ref = NumericSketch.from_values(np.arange(100.0))
    with pytest.raises(InvalidInputError, match="no data"):
        stats.ks(ref, ref.like())
    with pytest.raises(InvalidInputError, match="grid"):
        stats.ks(ref, NumericSketch.from_values(np.arange(5.0)))
