"""The statistics of an A/B experiment: pure numpy over sufficient statistics, no I/O.

Every function takes arrays (or scalars) of per-arm counts, means and variances, so a whole series
of looks (one per time window), or many simulated experiments at once, is one vectorized call.

- :func:`fixed_ci`: the difference of means (challenger - control) with a Welch normal
  confidence interval; a proportion is a mean of 0/1 values, so the same call serves both.
- :func:`confidence_sequence` and :func:`always_valid_p`: the mixture sequential probability ratio
  test (mSPRT; Johari, Pekelis & Walsh, "Always valid inference", 2017) with a normal mixture
  ``N(0, tau2)`` over the difference. Its confidence sequence holds the true difference at every
  look at once with probability ``1 - alpha``, so looking every hour does not inflate false
  positives. Over looks, the running intersection (:func:`running_sequence`) is what is reported.
- :func:`srm_p`: the sample-ratio-mismatch check (Pearson chi-squared of the arms' counts against
  the configured shares).
- :func:`min_sample_size`: per-arm sample size of a fixed-horizon test with the given power.
- :func:`decide`: better / worse / not worse (within a margin) / not yet known.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]

__all__ = [
    "BETTER",
    "DECISIONS",
    "INVALID",
    "NOT_WORSE",
    "UNKNOWN",
    "WORSE",
    "always_valid_p",
    "confidence_sequence",
    "decide",
    "default_tau2",
    "fixed_ci",
    "min_sample_size",
    "running_sequence",
    "srm_p",
    "welch",
]

BETTER = "better"
WORSE = "worse"
NOT_WORSE = "not worse"
UNKNOWN = "not yet known"
INVALID = "invalid"  # a sample ratio mismatch: the assignment is broken, no effect can be trusted
DECISIONS = (BETTER, WORSE, NOT_WORSE, UNKNOWN, INVALID)
SRM_ALPHA = 0.001  # the usual threshold: a mismatch this unlikely means the assignment is broken


def _arr(value: Any) -> Floats:
    import numpy as np

    return np.asarray(value, dtype=np.float64)


def welch(  # noqa: PLR0917
    n_a: Any, mean_a: Any, var_a: Any, n_b: Any, mean_b: Any, var_b: Any
) -> tuple[Floats, Floats]:
    """``(diff, se2)``: challenger (b) minus control (a), and the squared standard error of it.
    An arm without rows gives NaN."""
    import numpy as np

    n_a, n_b = _arr(n_a), _arr(n_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        se2 = np.where((n_a > 0) & (n_b > 0), _arr(var_a) / n_a + _arr(var_b) / n_b, np.nan)
    diff = np.where((n_a > 0) & (n_b > 0), _arr(mean_b) - _arr(mean_a), np.nan)
    return diff, se2


def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))


def fixed_ci(diff: Any, se2: Any, alpha: float = 0.05) -> tuple[Floats, Floats]:
    """The two-sided ``1 - alpha`` normal interval of one look (not valid under repeated looks)."""
    import numpy as np

    half = _z(alpha) * np.sqrt(_arr(se2))
    return _arr(diff) - half, _arr(diff) + half


def default_tau2(var_a: Any, var_b: Any, n: float) -> Floats:
    """A mixture variance tuned to detect effects near the standard error reached at ``n`` rows
    per arm (the minimum sample size): the confidence sequence is tightest around there."""
    return (_arr(var_a) + _arr(var_b)) / max(float(n), 1.0)


def confidence_sequence(diff: Any, se2: Any, tau2: Any, alpha: float = 0.05) -> tuple[Floats, Floats]:
    """The mSPRT confidence sequence at one look: ``diff +- sqrt(V (V + tau2) / tau2 * (2 log(1/alpha)
    + log((V + tau2) / V)))`` with ``V = se2``; a zero variance (constant metric) gives the point."""
    import numpy as np

    v, t = _arr(se2), _arr(tau2)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.sqrt(v * (v + t) / t * (2 * math.log(1 / alpha) + np.log((v + t) / v)))
    half = np.where(v == 0, 0.0, half)
    return _arr(diff) - half, _arr(diff) + half


def always_valid_p(diff: Any, se2: Any, tau2: Any) -> Floats:
    """``min(1, 1 / Lambda)`` of one look, Lambda the normal-mixture likelihood ratio against no
    difference; the running minimum over looks (:func:`running_sequence`) is the always-valid p."""
    import numpy as np

    v, t, d = _arr(se2), _arr(tau2), _arr(diff)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_lambda = 0.5 * np.log(v / (v + t)) + d * d * t / (2 * v * (v + t))
        p = np.minimum(1.0, np.exp(-log_lambda))
    return np.where(np.isfinite(p), p, 1.0)


def running_sequence(low: Any, high: Any, p: Any) -> tuple[Floats, Floats, Floats]:
    """Over looks (the last axis): the running intersection of the intervals and the running
    minimum of the p-values (a look without data, NaN, changes nothing)."""
    import numpy as np

    lo = np.where(np.isnan(_arr(low)), -np.inf, _arr(low))
    hi = np.where(np.isnan(_arr(high)), np.inf, _arr(high))
    return (
        np.maximum.accumulate(lo, axis=-1),
        np.minimum.accumulate(hi, axis=-1),
        np.minimum.accumulate(np.where(np.isnan(_arr(p)), 1.0, _arr(p)), axis=-1),
    )


def srm_p(counts: Any, shares: Any) -> Floats:
    """Pearson chi-squared p-value of observed ``counts`` (last axis: arms) against expected
    ``shares`` (summing to 1); 1.0 with no rows."""
    import numpy as np
    from scipy.stats import chi2

    c = _arr(counts)
    s = _arr(shares) / np.sum(_arr(shares))
    total = c.sum(axis=-1, keepdims=True)
    expected = total * s
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(expected > 0, (c - expected) ** 2 / expected, 0.0).sum(axis=-1)
    p = chi2.sf(stat, df=c.shape[-1] - 1)
    return np.where(total[..., 0] > 0, p, 1.0)


def min_sample_size(
    sd: float, mde: float, *, alpha: float = 0.05, power: float = 0.8, share: float = 0.5
) -> tuple[int, int]:
    """Rows per arm (control, challenger) a two-sided fixed-horizon test needs to find a difference
    of ``mde`` (metric units) with ``power``, the challenger getting ``share`` of the traffic."""
    from scipy.stats import norm

    if sd < 0 or mde <= 0 or not 0 < share < 1 or not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("min_sample_size needs sd >= 0, mde > 0 and alpha, power, share in (0, 1)")
    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    total = z * z * sd * sd * (1 / share + 1 / (1 - share)) / (mde * mde)
    return math.ceil(total * (1 - share)), math.ceil(total * share)


def decide(
    low: Any,
    high: Any,
    *,
    higher_is_better: bool,
    enough: Any = True,
    margin: float | None = None,
    srm: Any = False,
) -> Any:
    """The decision for a challenger-minus-control interval ``[low, high]`` (arrays give arrays of
    strings): ``better`` when all of it is an improvement, ``worse`` when all of it is a loss,
    ``not worse`` when no loss larger than ``margin`` (metric units, >= 0) is left in it, else
    ``not yet known``; ``not yet known`` below the minimum sample size (``enough`` false) and
    ``invalid`` on a sample ratio mismatch."""
    import numpy as np

    lo, hi = _arr(low), _arr(high)
    gain_lo, gain_hi = (lo, hi) if higher_is_better else (-hi, -lo)
    out = np.full(np.broadcast(lo, hi).shape, UNKNOWN, dtype=object)
    if margin is not None:
        out[gain_lo > -abs(margin)] = NOT_WORSE
    out[gain_lo > 0] = BETTER
    out[gain_hi < 0] = WORSE
    out[~np.broadcast_to(np.asarray(enough, dtype=bool), out.shape)] = UNKNOWN
    out[np.broadcast_to(np.asarray(srm, dtype=bool), out.shape)] = INVALID
    return out if out.ndim else str(out[()])
