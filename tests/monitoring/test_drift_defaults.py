"""Drift tests as Evidently's DataDriftPreset picks and computes them, checked against scipy/numpy
computations on the raw data (Evidently itself runs only in bench/monitoring.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
from scipy.spatial.distance import jensenshannon

from shipyard.monitoring import stats
from shipyard.monitoring.drift import compare, drift_report
from shipyard.monitoring.profile import Profile, build_profile
from shipyard.monitoring.sketch import NumericSketch


def _report(ref: dict[str, np.ndarray], cur: dict[str, np.ndarray], **kwargs: object) -> dict[str, object]:
    profile = build_profile(pd.DataFrame(ref))
    return {f.feature: f for f in drift_report(profile, pd.DataFrame(cur), **kwargs).features}  # type: ignore[arg-type]


def _z_p(ref: np.ndarray, cur: np.ndarray) -> float:
    p1, p2 = ref.mean(), cur.mean()
    pooled = (p1 * len(ref) + p2 * len(cur)) / (len(ref) + len(cur))
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / len(ref) + 1 / len(cur)))
    return float(2 * (1 - ss.norm.cdf(abs(z))))


def _value_shares(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = np.union1d(ref, cur)
    return (
        np.array([(ref == k).sum() for k in keys]) / len(ref),
        np.array([(cur == k).sum() for k in keys]) / len(cur),
    )


@pytest.mark.parametrize("n", [500, 1200, 100_000])
def test_a_binary_integer_column_takes_the_z_test_or_jensen_shannon(n: int) -> None:
    rng = np.random.default_rng(n)
    se = np.sqrt(0.21 * 2 / n)
    ref, cur = rng.binomial(1, 0.3, n), rng.binomial(1, 0.3 + 1.5 * se, n)
    got = _report({"flag": ref}, {"flag": cur})["flag"]
    assert got.kind == "categorical"  # an integer column with <= 10 values, as Evidently types it
    if n <= 1000:
        assert got.method == "z"
        assert got.p_value == pytest.approx(_z_p(ref, cur), abs=1e-12)
        assert got.drift == (_z_p(ref, cur) < 0.05)
    else:
        want = float(jensenshannon(*_value_shares(ref, cur)))
        assert got.method == "jensenshannon"
        assert got.score == pytest.approx(want, abs=1e-12)
        assert got.drift == (want >= 0.1)


def test_few_valued_numeric_columns_take_the_categorical_tests() -> None:
    rng = np.random.default_rng(3)
    ref = {
        "halves": rng.choice([0.0, 0.5, 1.0], 800),  # float, 3 values: chi-squared
        "eight": rng.integers(0, 8, 800),  # int, 8 values: categorical
        "many": rng.integers(0, 14, 800),  # int, 14 values: numeric, KS
    }
    cur = {
        "halves": rng.choice([0.0, 0.5, 1.0], 800, p=[0.3, 0.3, 0.4]),
        "eight": rng.integers(0, 8, 800),
        "many": rng.integers(1, 14, 800),
    }
    got = _report(ref, cur)
    assert [(got[c].method, got[c].kind) for c in ref] == [
        ("chisquare", "numeric"),
        ("chisquare", "categorical"),
        ("ks", "numeric"),
    ]
    p, q = _value_shares(ref["halves"], cur["halves"])
    want = ss.chisquare(q * 800, p * 800)
    assert got["halves"].p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert got["many"].p_value == pytest.approx(ss.ks_2samp(ref["many"], cur["many"]).pvalue, rel=1e-9)


def test_the_small_reference_rule_counts_non_missing_values() -> None:
    rng = np.random.default_rng(11)
    ref, cur = rng.normal(size=1300), rng.normal(0.12, 1, 1300)
    ref[rng.random(1300) < 0.35] = np.nan  # ~845 values left: a small reference
    got = _report({"x": ref}, {"x": cur})["x"]
    assert got.method == "ks" and got.ref_rows == int(np.isfinite(ref).sum())
    want = ss.ks_2samp(ref[np.isfinite(ref)], cur)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9) and got.drift == (want.pvalue <= 0.05)


def test_ks_on_small_samples_uses_the_exact_p_value() -> None:
    rng = np.random.default_rng(15)
    ref, cur = rng.normal(0, 1, 300), rng.normal(0.17, 1, 300)
    exact, asymp = ss.ks_2samp(ref, cur).pvalue, ss.ks_2samp(ref, cur, method="asymp").pvalue
    assert exact > 0.05 >= asymp  # the case where the asymptotic p-value flips the verdict
    got = _report({"x": ref}, {"x": cur})["x"]
    assert got.method == "ks" and got.p_value == pytest.approx(exact, rel=1e-12) and not got.drift
    # from histograms too (no exact values kept), scipy's exact p-value for the statistic
    sketch = NumericSketch.from_values(ref)
    window = sketch.like(cur)
    sketch.exact = window.exact = None
    assert stats.ks_p_value(ss.ks_2samp(ref, cur).statistic, 300, 300) == pytest.approx(exact, rel=1e-12)
    assert stats.ks(sketch, window).p_value == pytest.approx(exact, rel=1e-9)


def test_heavy_tails_keep_the_wasserstein_verdict() -> None:
    rng = np.random.default_rng(2)
    ref, cur = rng.lognormal(0, 2.0, 50_000), rng.lognormal(0.2, 2.0, 50_000)
    exact = ss.wasserstein_distance(ref, cur) / ref.std()
    sketch = NumericSketch.from_values(ref)
    got = stats.wasserstein_normed(sketch, sketch.like(cur))
    assert abs(got.value - exact) <= got.error_bound
    assert got.error_bound < 0.02  # one overflow bin from the grid edge to the maximum: 0.785
    assert (got.value >= 0.1) == (exact >= 0.1) == False  # noqa: E712 (one overflow bin said 0.148: drift)


def test_a_bound_straddling_the_threshold_is_settled_by_the_exact_second_pass() -> None:
    rng = np.random.default_rng(4)
    ref, cur = rng.normal(size=20_000), rng.normal(0.1, 1, 20_000)  # W ~ 0.1: the threshold
    profile = build_profile(pd.DataFrame({"x": ref}), bins=8)  # a coarse grid: a wide bound
    exact = ss.wasserstein_distance(ref, cur) / ref.std()
    frame = pd.DataFrame({"x": cur})
    approx = drift_report(profile, frame).features[0]
    assert approx.method == "wasserstein" and not approx.exact
    assert approx.score - approx.error_bound < 0.1 <= approx.score + approx.error_bound
    calls: list[str] = []

    def raw(name: str) -> tuple[np.ndarray, np.ndarray]:
        calls.append(name)
        return ref, cur

    settled = drift_report(profile, frame, exact_values=raw).features[0]
    assert calls == ["x"] and settled.exact
    assert settled.score == pytest.approx(exact, rel=1e-9) and settled.drift == (exact >= 0.1)


def _evidently_binned(ref: np.ndarray, cur: np.ndarray, fill: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's get_binned_data for a numeric column with more than 20 values (numpy only)."""
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    p, q = np.histogram(ref, edges)[0] / len(ref), np.histogram(cur, edges)[0] / len(cur)
    if fill:
        for a in (p, q):
            smallest = a[a != 0].min()
            a[a == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return p, q


@pytest.mark.parametrize(("n", "tolerance"), [(800, 1e-9), (60_000, 0.01)])
def test_psi_and_jensen_shannon_bin_like_evidently(n: int, tolerance: float) -> None:
    rng = np.random.default_rng(n)
    ref, cur = rng.normal(size=n), rng.normal(0.3, 1.2, n)
    sketch = NumericSketch.from_values(ref)
    window = sketch.like(cur)
    p, q = _evidently_binned(ref, cur, fill=True)
    want_psi = float(np.sum((p - q) * np.log(p / q)))
    want_js = float(jensenshannon(*_evidently_binned(ref, cur, fill=False)))
    psi, js = stats.psi(sketch, window), stats.jensen_shannon(sketch, window)
    assert psi.value == pytest.approx(want_psi, rel=tolerance)
    assert js.value == pytest.approx(want_js, rel=tolerance)
    assert psi.exact == js.exact == (n <= 10_000)  # exact values kept up to EXACT_LIMIT
    # the sketch's own binning (reference deciles) stays available under its own name
    deciles = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])
    shares = [np.bincount(np.searchsorted(deciles, v), minlength=10) / len(v) for v in (ref, cur)]
    p10, q10 = (np.maximum(a, 0.0001) for a in shares)
    got = compare("x", sketch, window, "psi_quantile")
    assert got.method == "psi_quantile"
    assert got.score == pytest.approx(float(np.sum((q10 - p10) * np.log(q10 / p10))), rel=0.05)


def test_psi_on_few_values_uses_their_counts() -> None:
    rng = np.random.default_rng(8)
    ref, cur = rng.integers(0, 12, 5000).astype(float), rng.integers(0, 14, 5000).astype(float)
    p, q = _value_shares(ref, cur)
    q = np.where(q == 0, 0.0001, q)
    p = np.where(p == 0, 0.0001, p)
    sketch = NumericSketch.from_values(ref)
    window = sketch.like(cur)
    sketch.exact = window.exact = None  # from the distinct-value counts alone
    assert stats.psi(sketch, window).value == pytest.approx(float(np.sum((p - q) * np.log(p / q))), rel=1e-9)


def test_small_profiles_keep_exact_values_through_json() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=900), "k": rng.integers(0, 3, 900)})
    back = Profile.from_json(build_profile(frame).to_json())
    x, k = back.features["x"], back.features["k"]
    assert isinstance(x, NumericSketch) and isinstance(k, NumericSketch)
    assert x.exact is not None and np.array_equal(np.sort(x.exact), np.sort(frame["x"].to_numpy()))
    assert k.integer and k.values == {float(v): int(c) for v, c in frame["k"].value_counts().items()}
    old = build_profile(frame).to_dict()  # a profile written before tail bins, values and exact
    for column in old["features"].values():
        column.update(tail=1, index=[0], counts=[900])
        for key in ("values", "exact", "integer"):
            column.pop(key)
    legacy = Profile.from_dict(old).features["x"]
    assert isinstance(legacy, NumericSketch) and legacy.tail == 1 and legacy.exact is None


def test_an_integer_window_with_few_values_against_a_many_valued_reference_stays_numeric() -> None:
    rng = np.random.default_rng(6)
    ref, cur = rng.integers(0, 5000, 20_000), rng.integers(0, 6, 3000)  # no counts or values kept of ref
    got = _report({"x": ref}, {"x": cur})["x"]
    assert (got.kind, got.method, got.drift) == ("numeric", "wasserstein", True)


def test_psi_interpolated_from_histograms_is_flagged_and_settled_by_the_second_pass() -> None:
    rng = np.random.default_rng(9)
    ref, cur = rng.normal(size=30_000), rng.normal(0.2, 1, 30_000)
    profile = build_profile(pd.DataFrame({"x": ref}))
    frame = pd.DataFrame({"x": cur})
    approx = drift_report(profile, frame, overrides={"x": ("psi", None)}).features[0]
    assert approx.method == "psi" and not approx.exact  # no bound on the interpolation: not trusted
    settled = drift_report(profile, frame, overrides={"x": ("psi", None)}, exact_values=lambda _: (ref, cur))
    p, q = _evidently_binned(ref, cur, fill=True)
    assert settled.features[0].exact
    assert settled.features[0].score == pytest.approx(float(np.sum((p - q) * np.log(p / q))), rel=1e-9)


def test_the_cli_marks_verdicts_taken_on_an_approximation(capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard.cli.monitor import _print_drift
    from shipyard.monitoring.drift import DriftReport, FeatureDrift

    rows = [
        FeatureDrift("a", "numeric", "wasserstein", 0.11, None, 0.1, True, 0.02, 5000, 5000, 0.0, False),
        FeatureDrift("b", "numeric", "wasserstein", 0.01, None, 0.1, False, 0.0, 5000, 5000, 0.0, True),
    ]
    _print_drift(DriftReport(rows, None, 5000), "drift")
    out = capsys.readouterr().out
    assert "drift (approx.)" in out and "ok (approx.)" not in out and "straddles the threshold" in out
