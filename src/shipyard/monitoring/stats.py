"""Drift statistics between a reference sketch and a current sketch on the same grid.

Every statistic is Evidently 0.7's (``evidently.legacy.calculations.stattests``) and is computed
**exactly** whenever the sketches hold what it needs: the exact values of both sides (small
samples, see :data:`~shipyard.monitoring.sketch.EXACT_LIMIT`) or the exact counts of their few
distinct values. Otherwise it is computed from the sketches' histograms and :class:`Stat` says so
(``exact=False``) with a bound on its error; the caller (:func:`shipyard.monitoring.drift.compare`)
decides on the approximation only when that bound cannot change the verdict.

Numeric columns:

- **KS**: scipy's ``ks_2samp`` (default ``method="auto"``: the exact p-value when both sides have
  at most 10 000 values, else the asymptotic one). From histograms, ``D`` is evaluated exactly at
  every bin boundary, so ``D_edges <= D_true``; inside bin ``i`` the reference CDF rises by ``p_i``
  and the current one by ``q_i``, so with ``d`` the difference at the bin's left edge,
  ``F_ref - F_cur`` stays in ``[d - q_i, d + p_i]`` and ``D_true <= max_i max(d_i + p_i, q_i - d_i)``.
  :func:`ks` returns ``D_edges``, the p-value scipy gives for it, and ``error_bound`` = that upper
  bound minus ``D_edges`` (``p_low`` is the p-value at the upper bound).
- **Wasserstein-1**, normed by ``max(std(reference), 0.001)`` like Evidently. From histograms the
  CDFs are integrated exactly at the boundaries, linearly inside bins; the error is at most
  ``sum_i width_i * max(p_i, q_i)`` (normed too). The geometric tail bins keep that bound small for
  heavy tails.
- **PSI** and **Jensen-Shannon** with Evidently's binning: the value counts when the reference has
  at most 20 distinct values, else ``np.histogram_bin_edges(reference + current, "sturges")``;
  PSI replaces empty shares as Evidently does (``0.0001``, or the smallest share / 10^6 when that is
  smaller). From histograms the counts per Sturges bin are interpolated inside the sketch's bins
  (``exact=False`` with no bound: :func:`shipyard.monitoring.drift.compare` never trusts it alone).
  ``psi_quantile`` / ``jensenshannon_quantile`` are shipyard's sketch-native variants on groups of
  bins holding equal shares of the reference (deciles for PSI, 30 groups for JS).

Categorical columns, and numeric columns tested as categories (few distinct values; exact, from
counts): **chi-squared** (expected = reference counts x current rows / reference rows),
**Jensen-Shannon** (natural log, ``scipy.spatial.distance.jensenshannon``) and the two-proportion
**Z-test** (``2 * (1 - Phi(|z|))``; p = 1 when both sides hold the same single value).

scipy is imported lazily, only when a test runs; without it a one-line error says to install it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError
from shipyard.monitoring.sketch import CategoricalSketch, NumericSketch, Sketch

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]

KS_EXACT_MAX = 10_000  # scipy's ks_2samp(method="auto") tries the exact p-value up to this size per side
FEW_VALUES = 20  # Evidently bins a numeric column by its values when the reference has at most this many


@dataclass(frozen=True)
class Stat:
    value: float
    p_value: float | None = None
    error_bound: float = 0.0
    exact: bool = True
    #: p-tests from histograms: the p-value at ``value + error_bound`` (the least it can be)
    p_low: float | None = None


def scipy_stats() -> Any:
    try:
        import scipy.stats
    except ImportError:
        raise InvalidInputError("drift tests need scipy: pip install scipy") from None
    return scipy.stats


def _exact_pair(ref: NumericSketch, cur: NumericSketch) -> tuple[Floats, Floats] | None:
    if (
        ref.exact is not None
        and cur.exact is not None
        and ref.exact.size == ref.n
        and cur.exact.size == cur.n
    ):
        return ref.exact, cur.exact
    return None


def _shares(ref: NumericSketch, cur: NumericSketch) -> tuple[Floats, Floats]:
    if ref.grid != cur.grid:
        raise InvalidInputError("the current window must be sketched on the reference's grid (use ref.like)")
    if not ref.n or not cur.n:
        raise InvalidInputError("no data: a side of the comparison has no non-missing values")
    return ref.counts / ref.n, cur.counts / cur.n


def ks_p_value(d: float, n1: int, n2: int) -> float:
    """The two-sided p-value scipy's ``ks_2samp`` (``method="auto"``) gives for statistic ``d``."""
    stats = scipy_stats()
    if max(n1, n2) <= KS_EXACT_MAX:
        try:  # scipy's own exact computation (private, hence guarded; the asymptotic one otherwise)
            from scipy.stats._stats_py import _attempt_exact_2kssamp

            success, _, prob = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
            if success:
                return float(min(max(prob, 0.0), 1.0))
        except (ImportError, FloatingPointError, ValueError):
            pass
    en = n1 * n2 / (n1 + n2)
    return float(min(max(stats.kstwo.sf(d, round(en)), 0.0), 1.0))


def ks(ref: NumericSketch, cur: NumericSketch) -> Stat:
    import numpy as np

    p, q = _shares(ref, cur)
    pair = _exact_pair(ref, cur)
    if pair is not None:
        result = scipy_stats().ks_2samp(*pair)
        return Stat(float(result.statistic), float(result.pvalue))
    right = np.cumsum(p) - np.cumsum(q)  # F_ref - F_cur just below each bin's right edge
    left = np.concatenate([[0.0], right[:-1]])
    d = float(np.max(np.abs(right)))
    # inside bin i, F_ref - F_cur lies in [left - q_i, left + p_i]
    upper = min(1.0, float(np.max(np.maximum(left + p, q - left))))
    bound = max(0.0, upper - d)
    p_value = ks_p_value(d, ref.n, cur.n)
    p_low = ks_p_value(upper, ref.n, cur.n) if bound > 0 else p_value
    return Stat(d, p_value, bound, bound == 0, p_low)


def wasserstein_normed(ref: NumericSketch, cur: NumericSketch) -> Stat:
    import numpy as np

    p, q = _shares(ref, cur)
    norm = max(ref.std, 0.001)
    pair = _exact_pair(ref, cur)
    if pair is not None:
        return Stat(float(scipy_stats().wasserstein_distance(*pair)) / norm)
    edges = ref.edges(min(ref.min, cur.min), max(ref.max, cur.max))
    widths = np.diff(edges)
    diff = np.concatenate([[0.0], np.cumsum(p) - np.cumsum(q)])
    a, b = diff[:-1], diff[1:]
    same = a * b >= 0
    absum = np.abs(a) + np.abs(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(absum > 0, (a * a + b * b) / (2 * absum), 0.0)
    area = widths * np.where(same, absum / 2, crossing)
    bound = float(np.sum(widths * np.maximum(p, q))) / norm
    return Stat(float(area.sum()) / norm, None, bound, bound == 0)


# --- counts: categorical columns and numeric columns with few distinct values ---------------------


def value_counts(s: Sketch) -> dict[Any, int] | None:
    """Exact counts per distinct value (None: a numeric column with too many distinct values)."""
    import numpy as np

    if isinstance(s, CategoricalSketch):
        return s.counts
    if s.values is not None:
        return s.values
    if s.exact is not None and s.exact.size == s.n:
        keys, counts = np.unique(s.exact, return_counts=True)
        return dict(zip(keys.tolist(), counts.tolist(), strict=True))
    return None


def _counts_pair(ref: Sketch, cur: Sketch) -> tuple[list[Any], Floats, Floats]:
    import numpy as np

    if not ref.n or not cur.n:
        raise InvalidInputError("no data: a side of the comparison has no non-missing values")
    rc, cc = value_counts(ref), value_counts(cur)
    if rc is None or cc is None:
        raise InvalidInputError("a categorical test needs a column with few distinct values")
    keys = sorted(set(rc) | set(cc), key=lambda k: (str(type(k)), k))
    p = np.array([rc.get(k, 0) for k in keys], dtype=np.float64)
    q = np.array([cc.get(k, 0) for k in keys], dtype=np.float64)
    return keys, p, q


def category_shares(ref: Sketch, cur: Sketch) -> tuple[Floats, Floats]:
    _, p, q = _counts_pair(ref, cur)
    return p / ref.n, q / cur.n


def chi_squared(ref: Sketch, cur: Sketch) -> Stat:
    """Pearson's chi-squared of the current counts against the reference's scaled to the current
    rows (scipy's ``chisquare(f_obs, f_exp)``, as Evidently); a value the reference never saw makes
    it infinite (p = 0)."""
    import numpy as np

    _, ref_counts, observed = _counts_pair(ref, cur)
    expected = ref_counts * (cur.n / ref.n)
    if np.any((expected == 0) & (observed > 0)):
        return Stat(float("inf"), 0.0)
    stat = float(np.sum((observed - expected) ** 2 / expected))
    dof = max(len(expected) - 1, 1)
    return Stat(stat, float(scipy_stats().chi2.sf(stat, dof)))


def z_test(ref: Sketch, cur: Sketch) -> Stat:
    """Two-proportion Z-test on the share of the first value (binary columns), as Evidently."""
    keys, p, q = _counts_pair(ref, cur)
    if len(keys) == 1:  # both sides hold the same single value
        return Stat(0.0, 1.0)
    p1, p2 = float(p[0]) / ref.n, float(q[0]) / cur.n
    pooled = (p1 * ref.n + p2 * cur.n) / (ref.n + cur.n)
    denom = math.sqrt(pooled * (1 - pooled) * (1 / ref.n + 1 / cur.n))
    if denom == 0:
        return Stat(0.0, 1.0)
    z = (p1 - p2) / denom
    return Stat(z, 2 * (1 - 0.5 * math.erfc(-abs(z) / math.sqrt(2))))


# --- PSI and Jensen-Shannon ------------------------------------------------------------------------


def sturges_edges(ref: NumericSketch, cur: NumericSketch) -> Floats:
    """``np.histogram_bin_edges(concat(reference, current), bins="sturges")`` from the sketches."""
    import numpy as np

    first, last = min(ref.min, cur.min), max(ref.max, cur.max)
    if first == last:
        first, last = first - 0.5, last + 0.5
    size = ref.n + cur.n
    width = (max(ref.max, cur.max) - min(ref.min, cur.min)) / (np.log2(size) + 1.0)
    if width and ref.integer and cur.integer and width < 1:
        width = 1.0
    bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, bins + 1, endpoint=True)


def _histogram(s: NumericSketch, edges: Floats, low: float, high: float) -> tuple[Floats, bool]:
    """Counts of ``s`` in ``edges`` (numpy's convention: the last bin is closed); exact from its
    values when it has them, else interpolated linearly inside the sketch's bins."""
    import numpy as np

    if s.exact is not None and s.exact.size == s.n:
        return np.histogram(s.exact, edges)[0].astype(np.float64), True
    if s.values is not None:
        keys = np.array(list(s.values), dtype=np.float64)
        weights = np.array(list(s.values.values()), dtype=np.float64)
        return np.histogram(keys, edges, weights=weights)[0].astype(np.float64), True
    own = s.edges(low, high)
    cumulative = np.concatenate([[0.0], np.cumsum(s.counts, dtype=np.float64)])
    at = np.interp(edges, own, cumulative)
    at[-1] = float(s.n)
    return np.diff(at), False


def _fill_zeros(shares: Floats) -> Floats:
    """Evidently's replacement of empty shares before PSI's logarithm."""
    import numpy as np

    out = shares.copy()
    smallest = float(np.min(out[out != 0]))
    out[out == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def evidently_shares(ref: Sketch, cur: Sketch) -> tuple[Floats, Floats, bool]:
    """The reference's and current's shares in Evidently's bins (``get_binned_data``) and whether
    they are exact."""
    if isinstance(ref, NumericSketch) and isinstance(cur, NumericSketch):
        if ref.grid != cur.grid:
            raise InvalidInputError("the current window must be sketched on the reference's grid")
        few = ref.values is not None and len(ref.values) <= FEW_VALUES
        if not few or value_counts(cur) is None:
            if not ref.n or not cur.n:
                raise InvalidInputError("no data: a side of the comparison has no non-missing values")
            edges = sturges_edges(ref, cur)
            low, high = min(ref.min, cur.min), max(ref.max, cur.max)
            (p, p_exact), (q, q_exact) = _histogram(ref, edges, low, high), _histogram(cur, edges, low, high)
            return p / ref.n, q / cur.n, p_exact and q_exact
    if isinstance(ref, NumericSketch) != isinstance(cur, NumericSketch):
        raise InvalidInputError("PSI and Jensen-Shannon need two numeric or two categorical sketches")
    p, q = category_shares(ref, cur)
    return p, q, True


def _psi_value(p: Floats, q: Floats) -> float:
    import numpy as np

    return float(np.sum((p - q) * np.log(p / q)))


def _js(p: Floats, q: Floats) -> float:
    import numpy as np

    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0)
    return float(math.sqrt(max(0.0, (kl_p.sum() + kl_q.sum()) / 2)))


def psi(ref: Sketch, cur: Sketch) -> Stat:
    p, q, exact = evidently_shares(ref, cur)
    return Stat(_psi_value(_fill_zeros(p), _fill_zeros(q)), exact=exact)


def jensen_shannon(ref: Sketch, cur: Sketch) -> Stat:
    p, q, exact = evidently_shares(ref, cur)
    return Stat(_js(p, q), exact=exact)


def _groups(ref: NumericSketch, groups: int) -> npt.NDArray[np.intp]:
    import numpy as np

    before = np.concatenate([[0.0], np.cumsum(ref.counts)[:-1]]) / max(ref.n, 1)
    return np.minimum((before * groups + 1e-12).astype(np.intp), groups - 1)


def _grouped(ref: Sketch, cur: Sketch, groups: int) -> tuple[Floats, Floats]:
    import numpy as np

    if isinstance(ref, NumericSketch) and isinstance(cur, NumericSketch):
        p, q = _shares(ref, cur)
        index = _groups(ref, groups)
        grouped_p = np.bincount(index, p, groups).astype(np.float64)
        return grouped_p, np.bincount(index, q, groups).astype(np.float64)
    if isinstance(ref, CategoricalSketch) and isinstance(cur, CategoricalSketch):
        return category_shares(ref, cur)
    raise InvalidInputError("PSI and Jensen-Shannon need two numeric or two categorical sketches")


def psi_quantile(ref: Sketch, cur: Sketch) -> Stat:
    """PSI on reference deciles of the sketch (shipyard's own binning; empty shares floored at 0.0001)."""
    import numpy as np

    p, q = _grouped(ref, cur, 10)
    p, q = np.maximum(p, 0.0001), np.maximum(q, 0.0001)
    return Stat(_psi_value(q, p))


def jensen_shannon_quantile(ref: Sketch, cur: Sketch) -> Stat:
    """Jensen-Shannon on 30 groups of sketch bins holding equal reference shares."""
    return Stat(_js(*_grouped(ref, cur, 30)))


NUMERIC: dict[str, Callable[[NumericSketch, NumericSketch], Stat]] = {
    "ks": ks,
    "wasserstein": wasserstein_normed,
}
ANY: dict[str, Callable[[Sketch, Sketch], Stat]] = {
    "psi": psi,
    "jensenshannon": jensen_shannon,
    "psi_quantile": psi_quantile,
    "jensenshannon_quantile": jensen_shannon_quantile,
    "chisquare": chi_squared,
    "z": z_test,
}
