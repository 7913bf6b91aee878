"""Mergeable column sketches: fixed-grid histograms for numbers, bounded counts for categories.

A :class:`NumericSketch` has ``bins`` equal-width bins over a reference range ``[lo, hi)`` and, on
each side, ``tail`` geometric tail bins: the ``k``-th tail bin beyond an edge is ``TAIL_RATIO**k``
core bins wide, so a heavy tail keeps a constant *relative* resolution (about 15 % of its distance
from the grid) instead of one overflow bin stretched from the grid edge to the maximum; the last
tail bin on each side runs to the exact ``min``/``max``. It also keeps the count, sum and sum of
squares, the missing count (NaN and ±inf, which Evidently drops too), whether every value was an
integer type, the exact counts of its distinct values while there are at most ``DISTINCT_CAP``
(``values``), and the exact values themselves while there are at most ``EXACT_LIMIT`` (``exact``),
so small samples and low-cardinality columns are tested exactly. The grid is fixed when the sketch
is created (from the first chunk of the reference: its 0.1 % and 99.9 % quantiles), so two
sketches on the same grid merge by adding counts — exactly, associatively and commutatively (the
float sums up to rounding). A window of current data is sketched on the reference's grid
(:meth:`NumericSketch.like`).

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
TAIL_BINS = 96  # per side; with TAIL_RATIO they reach ~2000 grid widths beyond the grid
TAIL_RATIO = 1.15
DISTINCT_CAP = 32  # exact value counts are kept while a column has at most this many distinct values
EXACT_LIMIT = 10_000  # exact values are kept while a sketch holds at most this many (scipy's exact KS)
STORED_EXACT = 1000  # ... and serialized while it holds at most this many (a small reference)
MAX_BINS = 1 << 20  # a stored sketch declaring more is refused before anything is allocated
MAX_TAIL = 1024
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


def _tail_index(distance: npt.NDArray[np.float64], tail: int) -> npt.NDArray[np.intp]:
    """Which tail bin (0 = next to the grid) holds a value ``distance`` core-bin widths beyond it."""
    import numpy as np

    if tail == 1:
        return np.zeros(distance.shape, dtype=np.intp)
    k = np.floor(np.log1p(np.maximum(distance, 0.0) * (TAIL_RATIO - 1)) / np.log(TAIL_RATIO))
    index: npt.NDArray[np.intp] = np.minimum(k, tail - 1).astype(np.intp)
    return index


def _tail_offsets(tail: int) -> npt.NDArray[np.float64]:
    """Distances (in core-bin widths) of the ``tail - 1`` inner tail-bin boundaries from the grid."""
    import numpy as np

    k = np.arange(1, tail, dtype=np.float64)
    return (TAIL_RATIO**k - 1) / (TAIL_RATIO - 1)


@dataclass
class NumericSketch:
    lo: float
    hi: float
    bins: int
    #: length bins + 2 * tail: [lower tail bins (outermost first), core bins..., upper tail bins]
    counts: npt.NDArray[np.int64]
    n: int = 0
    missing: int = 0
    min: float = float("inf")
    max: float = float("-inf")
    total: float = 0.0
    total_sq: float = 0.0
    tail: int = 1
    #: exact counts of the distinct values while at most DISTINCT_CAP (None: more than that)
    values: dict[float, int] | None = field(default_factory=dict)
    #: the exact values while at most EXACT_LIMIT of them (None: more than that)
    exact: npt.NDArray[np.float64] | None = None
    #: every value added so far came from an integer array (None: nothing added yet)
    integer: bool | None = None

    kind = "numeric"

    @classmethod
    def empty(cls, lo: float, hi: float, bins: int = DEFAULT_BINS, tail: int = TAIL_BINS) -> NumericSketch:
        import numpy as np

        if not (hi > lo) or not 1 <= bins <= MAX_BINS or not 1 <= tail <= MAX_TAIL:
            raise InvalidInputError(
                f"a sketch grid needs lo < hi, 1 <= bins <= {MAX_BINS} and 1 <= tail <= {MAX_TAIL}, "
                f"got [{lo}, {hi}) x {bins} (tail {tail})"
            )
        return cls(
            float(lo),
            float(hi),
            int(bins),
            np.zeros(bins + 2 * tail, dtype=np.int64),
            tail=int(tail),
            exact=np.empty(0, dtype=np.float64),
        )

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
        sketch.add(values)
        return sketch

    def like(self, values: Any = None) -> NumericSketch:
        """An empty sketch on this grid (with ``values`` added)."""
        other = NumericSketch.empty(self.lo, self.hi, self.bins, self.tail)
        if values is not None:
            other.add(values)
        return other

    @property
    def grid(self) -> tuple[float, float, int, int]:
        return self.lo, self.hi, self.bins, self.tail

    def add(self, values: Any) -> None:
        import numpy as np

        raw = np.asarray(values)
        integer = raw.dtype.kind in "iu"
        arr = _as_float(raw)
        if not arr.size:
            return
        total = float(arr.sum())
        if not np.isfinite(total):  # NaN or ±inf (both missing, as Evidently drops them) somewhere
            bad = ~np.isfinite(arr)
            self.missing += int(bad.sum())
            arr = arr[~bad]
            if not arr.size:
                return
            total = float(arr.sum())
        self.integer = integer if self.integer is None else self.integer and integer
        self._add_distinct(arr)
        if self.exact is not None:
            self.exact = np.concatenate([self.exact, arr]) if self.n + arr.size <= EXACT_LIMIT else None
        tail, bins, size = self.tail, self.bins, self.bins + 2 * self.tail
        low, high = float(arr.min()), float(arr.max())
        scale = bins / (self.hi - self.lo)
        scaled = arr - self.lo
        scaled *= scale
        scaled += float(tail)
        # everything below the grid lands in the innermost lower tail bin, above it in the innermost
        # upper one; the (few) values out there are then moved to their own tail bins
        np.clip(scaled, float(tail - 1), float(tail + bins), out=scaled)
        counts = np.bincount(scaled.astype(np.intp), minlength=size)
        if tail > 1 and low < self.lo:
            below = (self.lo - arr[scaled < tail]) * scale  # exactly those counted in bin tail - 1
            counts[tail - 1] -= below.size
            counts += np.bincount(tail - 1 - _tail_index(below, tail), minlength=size)
        if tail > 1 and high >= self.hi:
            above = (arr[scaled >= tail + bins] - self.hi) * scale  # those counted in tail + bins
            counts[tail + bins] -= above.size
            counts += np.bincount(tail + bins + _tail_index(above, tail), minlength=size)
        self.counts += counts
        self.n += int(arr.size)
        self.min = min(self.min, low)
        self.max = max(self.max, high)
        self.total += total
        self.total_sq += float(np.dot(arr, arr))

    def _add_distinct(self, arr: npt.NDArray[np.float64]) -> None:
        import numpy as np

        if self.values is None:
            return
        if np.unique(arr[:256]).size > DISTINCT_CAP:  # a cheap look first: most columns stop here
            self.values = None
            return
        keys, counts = np.unique(arr, return_counts=True)
        merged = dict(self.values)
        for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
            merged[key] = merged.get(key, 0) + count
        self.values = merged if len(merged) <= DISTINCT_CAP else None

    def merge(self, other: NumericSketch) -> NumericSketch:
        """A new sketch with both counts (the grids must be the same)."""
        import numpy as np

        if self.grid != other.grid:
            raise InvalidInputError(
                f"cannot merge sketches on different grids: [{self.lo}, {self.hi}) x {self.bins} "
                f"and [{other.lo}, {other.hi}) x {other.bins}"
            )
        values: dict[float, int] | None = None
        if self.values is not None and other.values is not None:
            values = dict(self.values)
            for key, count in other.values.items():
                values[key] = values.get(key, 0) + count
            if len(values) > DISTINCT_CAP:
                values = None
        exact = None
        if self.exact is not None and other.exact is not None and self.n + other.n <= EXACT_LIMIT:
            exact = np.concatenate([self.exact, other.exact])
        integer = self.integer if other.integer is None else other.integer
        if self.integer is not None and other.integer is not None:
            integer = self.integer and other.integer
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
            self.tail,
            values,
            exact,
            integer,
        )

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")

    @property
    def std(self) -> float:
        if not self.n:
            return float("nan")
        if self.exact is not None and self.exact.size == self.n:
            return float(self.exact.std())
        return float(max(0.0, self.total_sq / self.n - self.mean**2) ** 0.5)

    @property
    def missing_rate(self) -> float:
        seen = self.n + self.missing
        return self.missing / seen if seen else 0.0

    def edges(self, low: float | None = None, high: float | None = None) -> npt.NDArray[np.float64]:
        """The ``bins + 2 * tail + 1`` boundaries: ``low`` (default ``min``), the lower tail's,
        the grid's, the upper tail's, ``high`` (default ``max``); always non-decreasing."""
        import numpy as np

        grid = np.linspace(self.lo, self.hi, self.bins + 1)
        width = (self.hi - self.lo) / self.bins
        offsets = _tail_offsets(self.tail) * width
        lower, upper = self.lo - offsets[::-1], self.hi + offsets
        first = min(self.lo - (offsets[-1] if offsets.size else 0.0), self.min if low is None else low)
        last = max(self.hi + (offsets[-1] if offsets.size else 0.0), self.max if high is None else high)
        return np.concatenate([[first], lower, grid, upper, [last]])

    def to_dict(self) -> dict[str, Any]:
        import numpy as np

        nonzero = np.flatnonzero(self.counts)
        stored = self.exact is not None and self.n <= STORED_EXACT
        return {
            "kind": self.kind,
            "lo": self.lo,
            "hi": self.hi,
            "bins": self.bins,
            "tail": self.tail,
            "index": nonzero.tolist(),
            "counts": self.counts[nonzero].tolist(),
            "n": self.n,
            "missing": self.missing,
            "min": self.min if self.n else None,
            "max": self.max if self.n else None,
            "total": self.total,
            "total_sq": self.total_sq,
            "values": None if self.values is None else [[k, v] for k, v in sorted(self.values.items())],
            "exact": self.exact.tolist() if stored and self.exact is not None else None,
            "integer": self.integer,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericSketch:
        import numpy as np

        tail = int(data.get("tail", 1))  # profiles written before tail bins had one bin per side
        sketch = cls.empty(float(data["lo"]), float(data["hi"]), int(data["bins"]), tail)
        index = np.asarray(data["index"], dtype=np.intp)
        counts = np.asarray(data["counts"], dtype=np.int64)
        size = sketch.counts.size
        if index.shape != counts.shape or index.ndim != 1 or ((index < 0) | (index >= size)).any():
            raise InvalidInputError(f"a numeric sketch's index must be {size} bins' positions")
        sketch.counts[index] = counts
        sketch.n, sketch.missing = int(data["n"]), int(data["missing"])
        if data.get("min") is not None:
            sketch.min, sketch.max = float(data["min"]), float(data["max"])
        sketch.total, sketch.total_sq = float(data["total"]), float(data["total_sq"])
        values = data.get("values")
        if values is None or len(values) > DISTINCT_CAP:
            sketch.values = None
        else:
            sketch.values = {float(k): int(v) for k, v in values}
        exact = data.get("exact")
        if exact is not None and len(exact) == sketch.n <= STORED_EXACT:
            sketch.exact = np.asarray(exact, dtype=np.float64)
        else:
            sketch.exact = None
        integer = data.get("integer")
        sketch.integer = None if integer is None else bool(integer)
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
