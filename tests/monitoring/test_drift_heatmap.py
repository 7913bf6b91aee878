"""The dashboard's drift severity (the heatmap's colour) and one feature's distributions on a common
binning (what a clicked heatmap cell shows)."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.monitoring.dashboard import DISPLAY_BINS, feature_distribution, severity
from shipyard.monitoring.drift import FeatureDrift
from shipyard.monitoring.sketch import CategoricalSketch, NumericSketch
from shipyard.server.ui.drift_view import level


def _drift(method: str, score: float, p: float | None, threshold: float, drift: bool) -> FeatureDrift:
    return FeatureDrift("x", "numeric", method, score, p, threshold, drift, 0.0, 1000, 100, 0.0)


def test_severity_is_one_at_the_threshold_and_agrees_with_the_verdict() -> None:
    assert severity(_drift("wasserstein", 0.05, None, 0.1, False)) == pytest.approx(0.5)
    assert severity(_drift("wasserstein", 0.3, None, 0.1, True)) == pytest.approx(3.0)
    assert severity(_drift("ks", 0.2, 0.5, 0.05, False)) == pytest.approx(0.1)
    assert severity(_drift("ks", 0.2, 0.0005, 0.05, True)) == pytest.approx(3.0)  # 1 + log10(100)
    assert severity(_drift("ks", 0.2, 0.0, 0.05, True)) == 10.0  # capped, never inf
    assert severity(_drift("ks", 0.2, 0.05, 0.05, True)) == 1.0  # KS drifts at p == threshold
    assert severity(_drift("chisquare", 0.2, 0.05, 0.05, False)) < 1.0  # chi-squared needs p < it
    assert [level(v) for v in (0.1, 0.3, 0.6, 0.9, 1.0, 2.5)] == [0, 1, 2, 3, 4, 5]


def test_numeric_distribution_bins_both_sides_alike() -> None:
    rng = np.random.default_rng(1)
    ref = NumericSketch.from_values(rng.normal(0, 1, 20_000))
    same = feature_distribution("x", 0, ref, rng.normal(0, 1, 5_000))
    shifted = feature_distribution("x", 0, ref, rng.normal(2, 1, 5_000))
    assert len(same.labels) == DISPLAY_BINS and sum(same.reference) == pytest.approx(1.0)
    assert sum(shifted.current) == pytest.approx(1.0) and shifted.current_rows == 5_000
    assert np.abs(np.subtract(same.reference, same.current)).sum() < 0.1
    centre = np.arange(DISPLAY_BINS)
    assert np.dot(centre, shifted.current) - np.dot(centre, shifted.reference) > 5
    with_nan = feature_distribution("x", 0, ref, np.array([np.nan, 100.0, -100.0]))  # tails clip
    assert with_nan.current_rows == 2 and with_nan.current[0] == with_nan.current[-1] == 0.5


def test_categorical_distribution_keeps_the_most_common_and_groups_the_rest() -> None:
    ref = CategoricalSketch.from_values(["a"] * 50 + ["b"] * 30 + [f"r{i}" for i in range(40)])
    dist = feature_distribution("c", 3, ref, ["b"] * 10 + ["new"] * 10)
    assert dist.labels[:3] == ["b", "new", "a"] and dist.labels[-1] == "(other)" and len(dist.labels) == 21
    assert sum(dist.reference) == pytest.approx(1.0) and sum(dist.current) == pytest.approx(1.0)
    assert dist.current[0] == pytest.approx(0.5)
