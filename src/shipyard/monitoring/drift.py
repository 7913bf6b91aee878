"""Feature and prediction drift of a window of data against a reference profile.

The default test of each column is the one Evidently 0.7's ``DataDriftPreset`` picks, so the
verdicts agree (``bench/monitoring.py`` measures it). The column's type comes first:

- categorical: strings, booleans, and integer columns whose current window has at most 10 distinct
  values (Evidently's type inference);
- numeric: every other number column.

Then, with ``n`` the reference's **non-missing** values and ``k`` the distinct non-missing values of
reference and current together:

==========================  ==============================================  =====================
                            numeric                                         categorical
==========================  ==============================================  =====================
n <= 1000                   k <= 5: Z-test (k <= 2) or chi-squared, p < 0.05;  Z-test (k <= 2) or
                            else Kolmogorov-Smirnov, drift when p <= 0.05     chi-squared, p < 0.05
n > 1000                    k <= 5: Jensen-Shannon >= 0.1;                  Jensen-Shannon >= 0.1
                            else Wasserstein distance (normed) >= 0.1
==========================  ==============================================  =====================

PSI (drift >= 0.1) is available for both types, and ``psi_quantile`` / ``jensenshannon_quantile``
bin on the sketch instead of Evidently's way. Any feature can take another method and threshold
(``overrides={"age": ("psi", 0.2)}``). The dataset drifts when at least half the features do.

A statistic computed from histograms has an error bound (see :mod:`shipyard.monitoring.stats`).
When the bound straddles the threshold, the verdict is not taken from the approximation: the column
is recomputed exactly from ``exact_values(name)`` (a second pass over the raw data) when the caller
gives one, else the verdict is the approximation's and ``exact`` is false in the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError
from shipyard.monitoring import stats
from shipyard.monitoring.profile import Profile
from shipyard.monitoring.sketch import CategoricalSketch, NumericSketch, Sketch

if TYPE_CHECKING:
    import pandas as pd

#: method -> (statistic, is a p-value test, default threshold, works on numeric, on categorical)
METHODS: dict[str, tuple[str, bool, float, bool, bool]] = {
    "ks": ("Kolmogorov-Smirnov", True, 0.05, True, False),
    "wasserstein": ("Wasserstein distance (normed)", False, 0.1, True, False),
    "psi": ("PSI", False, 0.1, True, True),
    "jensenshannon": ("Jensen-Shannon distance", False, 0.1, True, True),
    "psi_quantile": ("PSI (sketch deciles)", False, 0.1, True, True),
    "jensenshannon_quantile": ("Jensen-Shannon distance (sketch groups)", False, 0.1, True, True),
    "chisquare": ("chi-squared", True, 0.05, True, True),
    "z": ("Z-test", True, 0.05, True, True),
}
SMALL_REFERENCE = 1000  # Evidently: <= 1000 non-missing reference values is a small reference
FEW_VALUES = 5  # Evidently: a numeric column with <= 5 distinct values takes the categorical tests
INTEGER_CATEGORIES = 10  # Evidently: an integer column with <= 10 distinct values is categorical

#: ``exact_values(column) -> (reference values, current values)``: the raw data, for a second pass
ExactValues = Callable[[str], tuple[Any, Any]]


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    method: str
    score: float
    p_value: float | None
    threshold: float
    drift: bool
    error_bound: float
    ref_rows: int
    cur_rows: int
    cur_missing: float
    #: the verdict does not rest on an approximation whose error bound straddles the threshold
    exact: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriftReport:
    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    rows: int
    missing_features: list[str] = field(default_factory=list)
    no_data: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.drift]

    @property
    def drift_share(self) -> float:
        return len(self.drifted) / len(self.features) if self.features else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.features) and self.drift_share >= 0.5

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "drifted": self.drifted,
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "missing_features": self.missing_features,
            "no_data": self.no_data,
        }

    def _repr_html_(self) -> str:
        """A notebook's display: the verdict, a score chart and the per-feature table."""
        from shipyard.monitoring.report import drift_repr

        return drift_repr(self)


def column_kind(reference: Sketch, current: Sketch) -> str:
    """``numeric`` or ``categorical``, as Evidently types the column (module doc)."""
    if isinstance(reference, CategoricalSketch):
        return "categorical"
    values = current.values if isinstance(current, NumericSketch) and current.integer else None
    # (and the reference's counts are known: else its categorical tests cannot be computed)
    if values is not None and len(values) <= INTEGER_CATEGORIES and stats.value_counts(reference) is not None:
        return "categorical"
    return "numeric"


def distinct_values(reference: Sketch, current: Sketch) -> int | None:
    """Distinct non-missing values of both sides together (None: more than a sketch counts)."""
    ref, cur = stats.value_counts(reference), stats.value_counts(current)
    if ref is None or cur is None:
        return None
    return len(set(ref) | set(cur))


def default_method(reference: Sketch, current: Sketch) -> str:
    """Evidently's default test for this column (module doc)."""
    kind = column_kind(reference, current)
    k = distinct_values(reference, current)
    few = k is not None and k <= FEW_VALUES
    if reference.n <= SMALL_REFERENCE:
        if kind == "numeric" and not few:
            return "ks"
        return "chisquare" if k is None or k > 2 else "z"
    if kind == "numeric" and not few:
        return "wasserstein"
    return "jensenshannon"


def _run(method: str, ref: Sketch, cur: Sketch) -> stats.Stat:
    if method in stats.NUMERIC:
        if not (isinstance(ref, NumericSketch) and isinstance(cur, NumericSketch)):
            raise InvalidInputError(f"method {method!r} needs numeric columns")
        return stats.NUMERIC[method](ref, cur)
    return stats.ANY[method](ref, cur)


def _decide(method: str, result: stats.Stat, limit: float) -> tuple[bool, bool]:
    """(drift, whether the error bound could change it)."""
    if method == "ks":  # Evidently: p <= threshold for KS, p < threshold for chi-squared and Z
        assert result.p_value is not None
        low = result.p_low if result.p_low is not None else result.p_value
        return result.p_value <= limit, low <= limit < result.p_value
    if METHODS[method][1]:
        assert result.p_value is not None
        return result.p_value < limit, False
    if result.exact:
        return result.value >= limit, False
    if not result.error_bound:  # interpolated without a bound (PSI/JS on histograms): never trusted
        return result.value >= limit, True
    straddles = result.value - result.error_bound < limit <= result.value + result.error_bound
    return result.value >= limit, straddles


def compare(  # noqa: PLR0917 (one column, all of its test settings)
    name: str,
    ref: Sketch,
    cur: Sketch,
    method: str | None = None,
    threshold: float | None = None,
    exact_values: ExactValues | None = None,
) -> FeatureDrift:
    """One column's test (``method``/``threshold`` default as in the module doc)."""
    if isinstance(ref, NumericSketch) != isinstance(cur, NumericSketch):
        raise InvalidInputError(f"feature {name!r}: the reference is {ref.kind} but the current data is not")
    method = method or default_method(ref, cur)
    if method not in METHODS:
        raise InvalidInputError(f"unknown drift method {method!r}; choose one of {', '.join(METHODS)}")
    _, _, default_threshold, on_num, on_cat = METHODS[method]
    numeric = isinstance(ref, NumericSketch)
    if (numeric and not on_num) or (not numeric and not on_cat):
        raise InvalidInputError(f"feature {name!r}: method {method!r} does not apply to {ref.kind} columns")
    if method in ("chisquare", "z") and distinct_values(ref, cur) is None:
        raise InvalidInputError(
            f"feature {name!r}: method {method!r} needs a column with few distinct values; use ks or psi"
        )
    limit = default_threshold if threshold is None else float(threshold)
    result = _run(method, ref, cur)
    drift, ambiguous = _decide(method, result, limit)
    if ambiguous and exact_values is not None and isinstance(ref, NumericSketch):
        ref_exact, cur_exact = (_exact_sketch(ref, v) for v in exact_values(name))
        result = _run(method, ref_exact, cur_exact)
        drift, ambiguous = _decide(method, result, limit)
    return FeatureDrift(
        name,
        column_kind(ref, cur),
        method,
        result.value,
        result.p_value,
        limit,
        bool(drift),
        result.error_bound,
        ref.n,
        cur.n,
        cur.missing_rate,
        not ambiguous,
    )


def _exact_sketch(grid: NumericSketch, values: Any) -> NumericSketch:
    """``values`` on ``grid`` with all of them kept exactly (for the second pass)."""
    import numpy as np

    sketch = sketch_window(grid, values)
    assert isinstance(sketch, NumericSketch)
    arr = np.asarray(values, dtype=np.float64).ravel()
    sketch.exact = arr[np.isfinite(arr)]
    return sketch


def sketch_window(reference: Sketch, values: Any) -> Sketch:
    """``values`` sketched like ``reference`` (numeric on its grid)."""
    import numpy as np

    if isinstance(reference, NumericSketch):
        arr = np.asarray(values)
        if arr.dtype.kind not in "fiub":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError):
                raise InvalidInputError("expected numbers for a numeric reference column") from None
        return reference.like(arr)
    return reference.like(values)


def drift_report(
    reference: Profile,
    current: pd.DataFrame | Mapping[str, Sketch],
    *,
    overrides: Mapping[str, tuple[str | None, float | None]] | None = None,
    prediction_column: str = "prediction",
    features: Sequence[str] | None = None,
    exact_values: ExactValues | None = None,
) -> DriftReport:
    """Compare ``current`` (a DataFrame with the features, or sketches made with
    :func:`sketch_window`) with the reference. Features absent from ``current`` are listed in
    ``missing_features``; columns with no values in the window in ``no_data``. ``exact_values``
    gives a column's raw reference and current values for the second pass (module doc)."""
    overrides = dict(overrides or {})
    for name in overrides:
        if name not in reference.features and name not in reference.outputs:
            raise InvalidInputError(f"override for {name!r}: no such column in the reference profile")
    names = list(features) if features is not None else list(reference.features)
    if isinstance(current, Mapping):
        available = set(current)
        rows = max((s.n + s.missing for s in current.values()), default=0)
    else:
        available = set(map(str, current.columns))
        rows = len(current)
    present = [n for n in names if n in available]
    if names and not present:
        raise InvalidInputError(
            "the reference profile does not match this data (another model's schema?): reference features "
            f"{sorted(names)[:10]}, data columns {sorted(available)[:10]}"
        )
    report = DriftReport([], None, rows, [n for n in names if n not in available])

    def window(name: str, ref: Sketch) -> Sketch:
        if isinstance(current, Mapping):
            return current[name]
        return sketch_window(ref, current[name].to_numpy())

    for name in present:
        if name not in reference.features:
            raise InvalidInputError(f"feature {name!r} is not in the reference profile")
        ref = reference.features[name]
        cur = window(name, ref)
        if not cur.n:
            report.no_data.append(name)
            continue
        method, threshold = overrides.get(name, (None, None))
        report.features.append(compare(name, ref, cur, method, threshold, exact_values))
    pred_ref = reference.outputs.get(prediction_column)
    if pred_ref is not None and prediction_column in available:
        cur = window(prediction_column, pred_ref)
        if cur.n:
            method, threshold = overrides.get(prediction_column, (None, None))
            report.prediction = compare(prediction_column, pred_ref, cur, method, threshold, exact_values)
    return report
