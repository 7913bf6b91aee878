"""Mergeable column sketches: fixed-grid histograms for numbers, bounded counts for categories.

A :class:`NumericSketch` has ``bins`` equal-width bins over a reference range ``[lo, hi)`` plus an
underflow bin ``[min, lo)`` and an overflow bin ``[hi, max]``, exact ``min``/``max``, the count,
sum and sum of squares, and the missing count. The grid is fixed when the sketch is created (from
the first chunk of the reference: its 0.1 % and 99.9 % quantiles), so two sketches on the same grid
merge by adding counts — exactly, associatively and commutatively (the float sums up to rounding).
A window of current data is sketched on the reference's grid (:meth:`NumericSketch.like`).

A :class:`CategoricalSketch` counts values, at most ``max_categories`` distinct ones; values beyond
that go to the ``__other__`` bucket. Merging adds counts (associative while under the cap).

Everything is vectorized numpy over whole chunks; memory is O(bins + categories), never O(rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DEFAULT_BINS = 2048
MAX_BINS = 1 << 20  # a stored sketch declaring more is refused before anything is allocated
MAX_CATEGORIES = 10_000
OTHER = "__other__"


def _as_float(values: Any) -> npt.NDArray[np.float64]:
    import numpy as np

    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind not in "fiu":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(f"expected numbers, got values of type {arr.dtype}") from None
    return arr.astype(np.float64, copy=False).ravel()


@dataclass
class NumericSketch:
    lo: float
    hi: float
    bins: int
    counts: npt.NDArray[np.int64]  # length bins + 2: [underflow, bins..., overflow]
    n: int = 0
    missing: int = 0
    min: float = float("inf")
    max: float = float("-inf")
    total: float = 0.0
    total_sq: float = 0.0

    kind = "numeric"

    @classmethod
    def empty(cls, lo: float, hi: float, bins: int = DEFAULT_BINS) -> NumericSketch:
        import numpy as np

        if not (hi > lo) or not 1 <= bins <= MAX_BINS:
            raise InvalidInputError(
                f"a sketch grid needs lo < hi and 1 <= bins <= {MAX_BINS}, got [{lo}, {hi}) x {bins}"
            )
        return cls(float(lo), float(hi), int(bins), np.zeros(bins + 2, dtype=np.int64))

    @classmethod
    def from_values(cls, values: Any, bins: int = DEFAULT_BINS) -> NumericSketch:
        """A sketch whose grid spans the 0.1 %..99.9 % quantiles of ``values`` (a sample suffices)."""
        import numpy as np

        arr = _as_float(values)
        finite = arr[np.isfinite(arr)]
        if finite.size:
            if finite.size < 1000:
                lo, hi = float(finite.min()), float(finite.max())
            else:
                sample = finite[:: max(1, finite.size // 50_000)]
                lo, hi = (float(q) for q in np.quantile(sample, [0.001, 0.999]))
        else:
            lo, hi = 0.0, 1.0
        if not hi > lo:
            lo, hi = lo - 0.5, lo + 0.5
        width = hi - lo
        sketch = cls.empty(lo, hi + width * 1e-9, bins)
        sketch.add(arr)
        return sketch

    def like(self, values: Any = None) -> NumericSketch:
        """An empty sketch on this grid (with ``values`` added)."""
        other = NumericSketch.empty(self.lo, self.hi, self.bins)
        if values is not None:
            other.add(values)
        return other

    def add(self, values: Any) -> None:
        import numpy as np

        arr = _as_float(values)
        if not arr.size:
            return
        total = float(arr.sum())
        if not np.isfinite(total):  # NaN (missing) or inf somewhere: the slow path
            nan = np.isnan(arr)
            self.missing += int(nan.sum())
            arr = arr[~nan]
            if not arr.size:
                return
            total = float(arr.sum())
        # bin index + 1, clipped to [0, bins + 1]: 0 is the underflow bin, bins + 1 the overflow bin
        scaled = arr - self.lo
        scaled *= self.bins / (self.hi - self.lo)
        scaled += 1.0
        np.clip(scaled, 0.0, float(self.bins + 1), out=scaled)
        self.counts += np.bincount(scaled.astype(np.intp), minlength=self.bins + 2)
        self.n += int(arr.size)
        self.min = min(self.min, float(arr.min()))
        self.max = max(self.max, float(arr.max()))
        self.total += total
        self.total_sq += float(np.dot(arr, arr))

    def merge(self, other: NumericSketch) -> NumericSketch:
        """A new sketch with both counts (the grids must be the same)."""
        if (self.lo, self.hi, self.bins) != (other.lo, other.hi, other.bins):
            raise InvalidInputError(
                f"cannot merge sketches on different grids: [{self.lo}, {self.hi}) x {self.bins} "
                f"and [{other.lo}, {other.hi}) x {other.bins}"
            )
        return NumericSketch(
            self.lo,
            self.hi,
            self.bins,
            self.counts + other.counts,
            self.n + other.n,
            self.missing + other.missing,
            min(self.min, other.min),
            max(self.max, other.max),
            self.total + other.total,
            self.total_sq + other.total_sq,
        )

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")

    @property
    def std(self) -> float:
        if not self.n:
            return float("nan")
        return float(max(0.0, self.total_sq / self.n - self.mean**2) ** 0.5)

    @property
    def missing_rate(self) -> float:
        seen = self.n + self.missing
        return self.missing / seen if seen else 0.0

    def edges(self, low: float | None = None, high: float | None = None) -> npt.NDArray[np.float64]:
        """The ``bins + 3`` boundaries: ``low`` (default ``min``), the grid, ``high`` (default ``max``)."""
        import numpy as np

        grid = np.linspace(self.lo, self.hi, self.bins + 1)
        first = min(self.lo, self.min if low is None else low)
        last = max(self.hi, self.max if high is None else high)
        return np.concatenate([[first], grid, [last]])

    def to_dict(self) -> dict[str, Any]:
        import numpy as np

        nonzero = np.flatnonzero(self.counts)
        return {
            "kind": self.kind,
            "lo": self.lo,
            "hi": self.hi,
            "bins": self.bins,
            "index": nonzero.tolist(),
            "counts": self.counts[nonzero].tolist(),
            "n": self.n,
            "missing": self.missing,
            "min": self.min if self.n else None,
            "max": self.max if self.n else None,
            "total": self.total,
            "total_sq": self.total_sq,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericSketch:
        import numpy as np

        sketch = cls.empty(float(data["lo"]), float(data["hi"]), int(data["bins"]))
        index = np.asarray(data["index"], dtype=np.intp)
        counts = np.asarray(data["counts"], dtype=np.int64)
        if index.shape != counts.shape or index.ndim != 1 or ((index < 0) | (index >= sketch.bins + 2)).any():
            raise InvalidInputError(f"a numeric sketch's index must be {sketch.bins + 2} bins' positions")
        sketch.counts[index] = counts
        sketch.n, sketch.missing = int(data["n"]), int(data["missing"])
        if data.get("min") is not None:
            sketch.min, sketch.max = float(data["min"]), float(data["max"])
        sketch.total, sketch.total_sq = float(data["total"]), float(data["total_sq"])
        return sketch


@dataclass
class CategoricalSketch:
    counts: dict[str, int] = field(default_factory=dict)
    missing: int = 0
    max_categories: int = MAX_CATEGORIES

    kind = "categorical"

    @classmethod
    def from_values(cls, values: Any, max_categories: int = MAX_CATEGORIES) -> CategoricalSketch:
        sketch = cls(max_categories=max_categories)
        sketch.add(values)
        return sketch

    def like(self, values: Any = None) -> CategoricalSketch:
        other = CategoricalSketch(max_categories=self.max_categories)
        if values is not None:
            other.add(values)
        return other

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    @property
    def missing_rate(self) -> float:
        seen = self.n + self.missing
        return self.missing / seen if seen else 0.0

    def add(self, values: Any) -> None:
        import numpy as np
        import pandas as pd

        series = pd.Series(np.asarray(values, dtype=object).ravel())
        missing = series.isna()
        self.missing += int(missing.sum())
        found = series[~missing].astype(str).value_counts(sort=False)
        self._absorb(dict(zip(found.index.tolist(), found.to_numpy().tolist(), strict=True)))

    def _absorb(self, found: dict[str, int]) -> None:
        for key, count in found.items():
            if key in self.counts or len(self.counts) < self.max_categories:
                self.counts[key] = self.counts.get(key, 0) + int(count)
            else:
                self.counts[OTHER] = self.counts.get(OTHER, 0) + int(count)

    def merge(self, other: CategoricalSketch) -> CategoricalSketch:
        merged = CategoricalSketch(dict(self.counts), self.missing + other.missing, self.max_categories)
        merged._absorb(dict(sorted(other.counts.items())))
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "counts": self.counts, "missing": self.missing, "max": self.max_categories}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalSketch:
        counts = {str(k): int(v) for k, v in dict(data["counts"]).items()}
        return cls(counts, int(data["missing"]), int(data.get("max", MAX_CATEGORIES)))


Sketch = NumericSketch | CategoricalSketch


def sketch_from_dict(data: dict[str, Any]) -> Sketch:
    if data.get("kind") == "numeric":
        return NumericSketch.from_dict(data)
    if data.get("kind") == "categorical":
        return CategoricalSketch.from_dict(data)
    raise InvalidInputError(f"unknown sketch kind {data.get('kind')!r}; expected numeric or categorical")
