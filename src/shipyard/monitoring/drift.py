"""Feature and prediction drift of a window of data against a reference profile.

Default tests follow Evidently's documented defaults (``DataDriftPreset``), chosen by the reference's
size and the column's type:

==========================  ===========================================  ===================
reference rows              numeric                                      categorical
==========================  ===========================================  ===================
<= 1000                     Kolmogorov-Smirnov, drift when p < 0.05      binary: Z-test p < 0.05;
                                                                         else chi-squared p < 0.05
> 1000                      Wasserstein distance (normed), drift >= 0.1   Jensen-Shannon >= 0.1
==========================  ===========================================  ===================

PSI (drift >= 0.1) is available for both types. Any feature can take another method and threshold
(``overrides={"age": ("psi", 0.2)}``). The dataset drifts when at least half the features do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    "chisquare": ("chi-squared", True, 0.05, False, True),
    "z": ("Z-test", True, 0.05, False, True),
}
SMALL_REFERENCE = 1000


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


def default_method(reference: Sketch, reference_rows: int) -> str:
    binary = isinstance(reference, CategoricalSketch) and len(reference.counts) <= 2
    if reference_rows <= SMALL_REFERENCE:
        if isinstance(reference, NumericSketch):
            return "ks"
        return "z" if binary else "chisquare"
    return "wasserstein" if isinstance(reference, NumericSketch) else "jensenshannon"


def compare(  # noqa: PLR0917 (one column, all of its test settings)
    name: str,
    ref: Sketch,
    cur: Sketch,
    ref_rows: int,
    method: str | None = None,
    threshold: float | None = None,
) -> FeatureDrift:
    """One column's test (``method``/``threshold`` default as in the module doc)."""
    method = method or default_method(ref, ref_rows)
    if method not in METHODS:
        raise InvalidInputError(f"unknown drift method {method!r}; choose one of {', '.join(METHODS)}")
    _, is_p, default_threshold, on_num, on_cat = METHODS[method]
    numeric = isinstance(ref, NumericSketch)
    if (numeric and not on_num) or (not numeric and not on_cat):
        raise InvalidInputError(f"feature {name!r}: method {method!r} does not apply to {ref.kind} columns")
    limit = default_threshold if threshold is None else float(threshold)
    if isinstance(ref, NumericSketch) and isinstance(cur, NumericSketch):
        fn = {
            "ks": stats.ks,
            "wasserstein": stats.wasserstein_normed,
            "psi": stats.psi,
            "jensenshannon": stats.jensen_shannon,
        }[method]
        result = fn(ref, cur)
    elif isinstance(ref, CategoricalSketch) and isinstance(cur, CategoricalSketch):
        cat = {
            "chisquare": stats.chi_squared,
            "z": stats.z_test,
            "psi": stats.psi,
            "jensenshannon": stats.jensen_shannon,
        }[method]
        result = cat(ref, cur)
    else:
        raise InvalidInputError(f"feature {name!r}: the reference is {ref.kind} but the current data is not")
    if is_p:
        assert result.p_value is not None
        drift = result.p_value < limit
    else:
        drift = result.value >= limit
    return FeatureDrift(
        name,
        ref.kind,
        method,
        result.value,
        result.p_value,
        limit,
        bool(drift),
        result.error_bound,
        _rows(ref),
        _rows(cur),
        cur.missing_rate,
    )


def _rows(s: Sketch) -> int:
    return s.n


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
) -> DriftReport:
    """Compare ``current`` (a DataFrame with the features, or sketches made with
    :func:`sketch_window`) with the reference. Features absent from ``current`` are listed in
    ``missing_features``; columns with no values in the window in ``no_data``."""
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
        report.features.append(compare(name, ref, cur, reference.rows, method, threshold))
    pred_ref = reference.outputs.get(prediction_column)
    if pred_ref is not None and prediction_column in available:
        cur = window(prediction_column, pred_ref)
        if cur.n:
            method, threshold = overrides.get(prediction_column, (None, None))
            report.prediction = compare(prediction_column, pred_ref, cur, reference.rows, method, threshold)
    return report
