"""Drift statistics between a reference sketch and a current sketch on the same grid.

Numeric (both sides binned on the reference's fixed grid, see :mod:`shipyard.monitoring.sketch`):

- **KS**: ``D`` is evaluated exactly at every bin boundary, so ``D_edges <= D_true``. Inside bin
  ``i`` the reference CDF rises by its share ``p_i`` and the current one by ``q_i``, so with ``d`` the
  difference at the bin's left edge, ``F_ref - F_cur`` stays in ``[d - q_i, d + p_i]``; hence
  ``D_true <= max_i max(d_i + p_i, q_i - d_i)`` (never more than ``D_edges + max_i max(p_i, q_i)``).
  :func:`ks` returns ``D_edges`` and ``error_bound`` = that upper bound minus ``D_edges``; with the
  default 2048-bin grid the bound is about 1/2048 of the reference in its dense region. The p-value
  is the asymptotic one scipy's ``ks_2samp(method="asymp")`` gives for ``D_edges``.
- **Wasserstein-1** (normed by the reference's standard deviation, as Evidently does): the CDFs are
  integrated exactly at the boundaries, linearly inside bins; the error is at most
  ``sum_i width_i * max(p_i, q_i)`` (returned as the bound, also normed).
- **PSI** and **Jensen-Shannon** on groups of bins holding equal shares of the reference
  (deciles for PSI, 30 groups for JS), with Evidently's 0.0001 floor for empty groups in PSI.

Categorical (exact, from counts): **chi-squared** (expected = reference shares x current rows),
**Jensen-Shannon** distance (natural log, like ``scipy.spatial.distance.jensenshannon``) and the
two-proportion **Z-test** for binary features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard.core.errors import InvalidInputError
from shipyard.monitoring.sketch import CategoricalSketch, NumericSketch

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class Stat:
    value: float
    p_value: float | None = None
    error_bound: float = 0.0


def _shares(
    ref: NumericSketch, cur: NumericSketch
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    if (ref.lo, ref.hi, ref.bins) != (cur.lo, cur.hi, cur.bins):
        raise InvalidInputError("the current window must be sketched on the reference's grid (use ref.like)")
    if not ref.n or not cur.n:
        raise InvalidInputError("no data: a side of the comparison has no non-missing values")
    return ref.counts / ref.n, cur.counts / cur.n


def ks(ref: NumericSketch, cur: NumericSketch) -> Stat:
    import numpy as np
    from scipy.stats import kstwo

    p, q = _shares(ref, cur)
    right = np.cumsum(p) - np.cumsum(q)  # F_ref - F_cur just below each bin's right edge
    left = np.concatenate([[0.0], right[:-1]])
    d = float(np.max(np.abs(right)))
    # inside bin i, F_ref - F_cur lies in [left - q_i, left + p_i]
    upper = float(np.max(np.maximum(left + p, q - left)))
    en = ref.n * cur.n / (ref.n + cur.n)
    return Stat(d, float(kstwo.sf(d, round(en))), max(0.0, upper - d))


def wasserstein_normed(ref: NumericSketch, cur: NumericSketch) -> Stat:
    import numpy as np

    p, q = _shares(ref, cur)
    edges = ref.edges(min(ref.min, cur.min), max(ref.max, cur.max))
    widths = np.diff(edges)
    diff = np.concatenate([[0.0], np.cumsum(p) - np.cumsum(q)])
    a, b = diff[:-1], diff[1:]
    same = a * b >= 0
    absum = np.abs(a) + np.abs(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(absum > 0, (a * a + b * b) / (2 * absum), 0.0)
    area = widths * np.where(same, absum / 2, crossing)
    bound = float(np.sum(widths * np.maximum(p, q)))
    std = ref.std
    norm = std if std > 0 else 1.0
    return Stat(float(area.sum()) / norm, None, bound / norm)


def _groups(ref: NumericSketch, groups: int) -> npt.NDArray[np.intp]:
    import numpy as np

    before = np.concatenate([[0.0], np.cumsum(ref.counts)[:-1]]) / max(ref.n, 1)
    return np.minimum((before * groups + 1e-12).astype(np.intp), groups - 1)


def _grouped(ref: NumericSketch, cur: NumericSketch, groups: int) -> tuple[npt.NDArray[np.float64], ...]:
    import numpy as np

    p, q = _shares(ref, cur)
    index = _groups(ref, groups)
    grouped_p = np.bincount(index, p, groups).astype(np.float64)
    grouped_q = np.bincount(index, q, groups).astype(np.float64)
    return grouped_p, grouped_q


def psi(ref: NumericSketch | CategoricalSketch, cur: NumericSketch | CategoricalSketch) -> Stat:
    import numpy as np

    if isinstance(ref, NumericSketch) and isinstance(cur, NumericSketch):
        p, q = _grouped(ref, cur, 10)
    elif isinstance(ref, CategoricalSketch) and isinstance(cur, CategoricalSketch):
        p, q = category_shares(ref, cur)
    else:
        raise InvalidInputError("PSI needs two numeric or two categorical sketches")
    p, q = np.maximum(p, 0.0001), np.maximum(q, 0.0001)
    return Stat(float(np.sum((q - p) * np.log(q / p))))


def _js(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> float:
    import numpy as np

    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0)
    return float(math.sqrt(max(0.0, (kl_p.sum() + kl_q.sum()) / 2)))


def jensen_shannon(ref: NumericSketch | CategoricalSketch, cur: NumericSketch | CategoricalSketch) -> Stat:
    if isinstance(ref, NumericSketch) and isinstance(cur, NumericSketch):
        return Stat(_js(*_grouped(ref, cur, 30)))
    if isinstance(ref, CategoricalSketch) and isinstance(cur, CategoricalSketch):
        return Stat(_js(*category_shares(ref, cur)))
    raise InvalidInputError("Jensen-Shannon needs two numeric or two categorical sketches")


def category_shares(
    ref: CategoricalSketch, cur: CategoricalSketch
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    import numpy as np

    if not ref.n or not cur.n:
        raise InvalidInputError("no data: a side of the comparison has no non-missing values")
    keys = sorted(set(ref.counts) | set(cur.counts))
    p = np.array([ref.counts.get(k, 0) for k in keys], dtype=np.float64) / ref.n
    q = np.array([cur.counts.get(k, 0) for k in keys], dtype=np.float64) / cur.n
    return p, q


def chi_squared(ref: CategoricalSketch, cur: CategoricalSketch) -> Stat:
    """Pearson's chi-squared of the current counts against the reference shares (scipy's
    ``chisquare(f_obs, f_exp)``); a category the reference never saw makes it infinite (p = 0)."""
    import numpy as np
    from scipy.stats import chi2

    p, q = category_shares(ref, cur)
    expected, observed = p * cur.n, q * cur.n
    if np.any((expected == 0) & (observed > 0)):
        return Stat(float("inf"), 0.0)
    keep = expected > 0
    stat = float(np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep]))
    dof = max(int(keep.sum()) - 1, 1)
    return Stat(stat, float(chi2.sf(stat, dof)))


def z_test(ref: CategoricalSketch, cur: CategoricalSketch) -> Stat:
    """Two-proportion Z-test on the share of the first category (binary features)."""
    p, q = category_shares(ref, cur)
    p1, p2 = float(p[0]), float(q[0])
    pooled = (p1 * ref.n + p2 * cur.n) / (ref.n + cur.n)
    denom = math.sqrt(pooled * (1 - pooled) * (1 / ref.n + 1 / cur.n))
    if denom == 0:
        return Stat(0.0, 1.0)
    z = (p1 - p2) / denom
    return Stat(z, math.erfc(abs(z) / math.sqrt(2)))
