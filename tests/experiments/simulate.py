"""Simulated experiments for the tests and the bench: per-window sums of normal or 0/1 metrics
drawn for many experiments at once (numpy, no loops)."""

from __future__ import annotations

import numpy as np

from shipyard.experiments.analysis import Sums


def normal_sums(
    rng: np.random.Generator, sims: int, windows: int, per_window: int, effect: float, *, sd: float = 1.0
) -> Sums:
    """Per experiment, per arm and window: the sums of ``per_window`` N(mu, sd) rows, mu = 0 for the
    control and ``effect`` for the challenger (drawn row by row, so variances are estimated)."""
    rows = rng.normal(0.0, sd, size=(sims, 2, windows, per_window))
    rows[:, 1] += effect
    n = np.full((sims, 2, windows), float(per_window))
    return Sums(n, rows.sum(axis=-1), (rows * rows).sum(axis=-1))


def binary_sums(
    rng: np.random.Generator, sims: int, windows: int, per_window: int, p_control: float, p_challenger: float
) -> Sums:
    """Per-window sums of 0/1 outcomes (a conversion or an error rate)."""
    p = np.array([p_control, p_challenger])[None, :, None]
    k = rng.binomial(per_window, np.broadcast_to(p, (sims, 2, windows))).astype(np.float64)
    n = np.full((sims, 2, windows), float(per_window))
    return Sums(n, k, k)  # 0/1 values: the sum of squares is the sum
