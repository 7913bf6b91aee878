"""The analysis core against simulated data with known effects."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shipyard.experiments import stats
from shipyard.experiments.analysis import sequential, window_sums
from tests.experiments.simulate import binary_sums, normal_sums

HOURS = 48  # two days of hourly looks


def test_min_sample_size_matches_the_textbook_formula() -> None:
    # 2 (z_.975 + z_.8)^2 sd^2 / mde^2 = 1569.8 per arm for sd 1, mde 0.1
    assert stats.min_sample_size(1.0, 0.1) == (1570, 1570)
    control, challenger = stats.min_sample_size(1.0, 0.1, share=0.1)
    assert challenger < control and challenger / (control + challenger) == pytest.approx(0.1, abs=0.001)
    with pytest.raises(ValueError, match="mde > 0"):
        stats.min_sample_size(1.0, 0.0)


def test_fixed_ci_covers_the_true_difference_about_95_percent() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0.0, 1.0, (2000, 200))
    b = rng.normal(0.3, 1.0, (2000, 200))
    diff, se2 = stats.welch(200, a.mean(1), a.var(1, ddof=1), 200, b.mean(1), b.var(1, ddof=1))
    low, high = stats.fixed_ci(diff, se2)
    coverage = np.mean((low < 0.3) & (high > 0.3))
    assert 0.93 < coverage < 0.97


def test_confidence_sequence_is_wider_than_one_look_and_matches_the_p_value() -> None:
    diff, se2, tau2 = np.array([0.1, 0.5]), np.array([0.01, 0.01]), np.array([0.02, 0.02])
    low, high = stats.confidence_sequence(diff, se2, tau2)
    f_low, f_high = stats.fixed_ci(diff, se2)
    assert np.all(high - low > f_high - f_low)
    p = stats.always_valid_p(diff, se2, tau2)
    # the interval excludes 0 exactly when the always-valid p is below alpha
    assert list((low > 0) | (high < 0)) == list(p < 0.05)
    assert list(p < 0.05) == [False, True]


def test_a_a_false_positive_rate_with_hourly_looks_stays_under_alpha() -> None:
    rng = np.random.default_rng(7)
    looks = sequential(normal_sums(rng, 200, HOURS, 200, 0.0), higher_is_better=True, min_samples=200)
    decided = np.isin(looks.decision, [stats.BETTER, stats.WORSE]).any(axis=-1)
    assert decided.mean() <= 0.05
    # testing each hour's window on its own at 5% instead: most A/A experiments "find" an effect
    naive = ((looks.ci_low > 0) | (looks.ci_high < 0)).any(axis=-1).mean()
    assert naive > decided.mean()


def test_a_a_on_proportions_under_alpha() -> None:
    rng = np.random.default_rng(11)
    looks = sequential(binary_sums(rng, 200, HOURS, 300, 0.1, 0.1), higher_is_better=True, min_samples=500)
    assert np.isin(looks.decision, [stats.BETTER, stats.WORSE]).any(axis=-1).mean() <= 0.05


@pytest.mark.parametrize(
    ("effect", "higher", "expected"),
    [
        (0.2, True, stats.BETTER),
        (-0.2, True, stats.WORSE),
        (0.2, False, stats.WORSE),
        (-0.2, False, stats.BETTER),
    ],
)
def test_a_known_effect_is_decided_in_its_direction(effect: float, higher: bool, expected: str) -> None:
    rng = np.random.default_rng(3)
    looks = sequential(normal_sums(rng, 50, HOURS, 100, effect), higher_is_better=higher, min_samples=200)
    final = looks.decision[:, -1]
    assert np.mean(final == expected) >= 0.95
    assert not np.any(final == (stats.WORSE if expected == stats.BETTER else stats.BETTER))
    # and the interval holds the true effect
    assert np.mean((looks.cs_low[:, -1] < effect) & (effect < looks.cs_high[:, -1])) >= 0.95


def test_no_decision_below_the_minimum_sample_size() -> None:
    rng = np.random.default_rng(5)
    looks = sequential(normal_sums(rng, 20, 4, 50, 2.0), higher_is_better=True, min_samples=150)
    assert np.all(looks.decision[:, :2] == stats.UNKNOWN)  # 50, 100 rows per arm
    assert np.all(looks.decision[:, 3] == stats.BETTER)


def test_not_worse_within_a_margin() -> None:
    rng = np.random.default_rng(9)
    looks = sequential(
        normal_sums(rng, 50, HOURS, 400, 0.0), higher_is_better=True, min_samples=200, margin=0.1
    )
    assert np.mean(looks.decision[:, -1] == stats.NOT_WORSE) >= 0.9
    # a real loss bigger than the margin is never "not worse"
    bad = sequential(
        normal_sums(rng, 50, HOURS, 400, -0.3), higher_is_better=True, min_samples=200, margin=0.1
    )
    assert not np.any(bad.decision[:, -1] == stats.NOT_WORSE)


def test_sample_ratio_mismatch_is_flagged_and_a_fair_split_is_not() -> None:
    assert stats.srm_p([50_000, 50_300], [0.5, 0.5]) > 0.1
    assert stats.srm_p([50_000, 52_000], [0.5, 0.5]) < 1e-6
    assert stats.srm_p([90_000, 10_050], [0.9, 0.1]) > 0.1
    assert float(stats.srm_p([0, 0], [0.5, 0.5])) == 1.0
    rng = np.random.default_rng(2)
    sums = normal_sums(rng, 1, 4, 1000, 0.0)
    skewed = sums.n.copy()
    skewed[:, 1] *= 0.9
    looks = sequential(sums, higher_is_better=True, assigned=skewed)
    assert looks.decision[0, -1] == stats.INVALID


def test_decide_scalar_and_direction() -> None:
    assert stats.decide(0.1, 0.3, higher_is_better=True) == stats.BETTER
    assert stats.decide(0.1, 0.3, higher_is_better=False) == stats.WORSE
    assert stats.decide(-0.05, 0.3, higher_is_better=True, margin=0.1) == stats.NOT_WORSE
    assert stats.decide(-0.2, 0.3, higher_is_better=True, margin=0.1) == stats.UNKNOWN
    assert stats.decide(0.1, 0.3, higher_is_better=True, enough=False) == stats.UNKNOWN


def test_window_sums_match_a_groupby() -> None:
    rng = np.random.default_rng(4)
    n = 5000
    frame = pd.DataFrame(
        {"w": rng.integers(-1, 6, n), "arm": rng.integers(0, 2, n), "v": rng.normal(3.0, 2.0, n)}
    )
    frame.loc[::7, "v"] = np.nan  # labels that have not arrived
    sums = window_sums(frame["w"], frame["arm"], frame["v"], 5)
    kept = frame[frame["v"].notna() & frame["w"].between(0, 4)]
    grouped = kept.groupby(["arm", "w"])["v"].agg(["count", "mean", "var"])
    for (arm, w), row in grouped.iterrows():
        assert sums.n[arm, w] == row["count"]
        mean = sums.s[arm, w] / sums.n[arm, w] + sums.shift
        assert mean == pytest.approx(row["mean"])
        var = (sums.ss[arm, w] - sums.s[arm, w] ** 2 / sums.n[arm, w]) / (sums.n[arm, w] - 1)
        assert var == pytest.approx(row["var"])
    looks = sequential(sums, higher_is_better=True, min_samples=10)
    assert looks.mean[0, 0] == pytest.approx(grouped.loc[(0, 0), "mean"])
    assert math.isfinite(looks.cs_low[-1])
