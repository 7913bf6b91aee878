"""What an import counted, on each side, and the one check that they agree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import IntegrityError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@dataclass
class Counts:
    experiments: int = 0
    runs: int = 0
    params: int = 0
    tags: int = 0
    metric_points: int = 0
    artifacts: int = 0
    artifact_bytes: int = 0
    models: int = 0
    versions: int = 0
    aliases: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Summary:
    """``source``: what the MLflow store holds (of what was selected); ``imported``: what shipyard
    holds for it after the import, counted back from shipyard; ``written``: what this invocation
    added (0 everywhere on a second import); ``skipped_runs``: runs found already imported."""

    source: Counts
    imported: Counts
    written: Counts
    skipped_runs: int = 0
    resumed_runs: int = 0
    dry_run: bool = False

    def mismatches(self) -> list[str]:
        if self.dry_run:
            return []
        src, dst = self.source.as_dict(), self.imported.as_dict()
        return [f"{k}: source {src[k]}, shipyard {dst[k]}" for k in src if src[k] != dst[k]]

    def check(self) -> None:
        bad = self.mismatches()
        if bad:
            raise IntegrityError(
                "the import does not match its source (" + "; ".join(bad) + "); run the same command "
                "again to resume, and report it if it persists"
            )


class SeriesDigest:
    """An order-independent digest of metric points (the exact bits of value, step and
    timestamp): the sum, modulo 2**64, of a 64-bit mix of each point, in two independent mixes.
    Two series hold the same points (as a multiset) when count and digest agree; a store that
    returns them in another order (MLflow's SQL store sorts by timestamp) still compares equal."""

    def __init__(self) -> None:
        self.count = 0
        self._a = 0
        self._b = 0

    def update(self, values: Sequence[float], steps: Sequence[int], timestamps: Sequence[int]) -> None:
        if len(values):
            a, b = _mixes(values, steps, timestamps)
            self.add_sums(len(a), int(a.sum(dtype="uint64")), int(b.sum(dtype="uint64")))

    def add_sums(self, count: int, a: int, b: int) -> None:
        self._a = (self._a + a) & _MASK
        self._b = (self._b + b) & _MASK
        self.count += count

    def digest(self) -> str:
        return f"{self._a:016x}{self._b:016x}"


_MASK = (1 << 64) - 1


def update_spans(
    digests: dict[str, SeriesDigest],
    spans: Sequence[tuple[str, int]],
    values: Sequence[float] | NDArray[np.float64],
    steps: Sequence[int] | NDArray[np.int64],
    timestamps: Sequence[int] | NDArray[np.int64],
) -> None:
    """The columns' points into ``digests`` (one per key, added when absent), ``spans`` giving
    each ``(key, length)`` run of them in order: what :meth:`SeriesDigest.update` per span would
    give, in one numpy pass over the whole batch (a key may have several spans)."""
    import numpy as np

    for key, _ in spans:
        if key not in digests:
            digests[key] = SeriesDigest()
    spans = [(key, n) for key, n in spans if n > 0]  # reduceat gives an empty span a point
    if sum(n for _, n in spans) != len(values):
        raise ValueError("the spans do not cover the columns")
    if not spans:
        return
    a, b = _mixes(values, steps, timestamps)
    starts = np.cumsum([0] + [n for _, n in spans[:-1]])
    with np.errstate(over="ignore"):
        sums_a, sums_b = np.add.reduceat(a, starts), np.add.reduceat(b, starts)
    for (key, n), sa, sb in zip(spans, sums_a.tolist(), sums_b.tolist(), strict=True):
        digests[key].add_sums(n, sa, sb)


def _mixes(
    values: Sequence[float] | NDArray[np.float64],
    steps: Sequence[int] | NDArray[np.int64],
    timestamps: Sequence[int] | NDArray[np.int64],
) -> tuple[Any, Any]:
    """The two 64-bit mixes of each point (uint64 arrays)."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isnan(v), np.float64("nan"), v)  # one NaN bit pattern
    bits = v.view(np.uint64)
    s = np.asarray(steps, dtype=np.int64).view(np.uint64)
    t = np.asarray(timestamps, dtype=np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        a = _mix(bits ^ _mix(s ^ _mix(t + np.uint64(0x9E3779B97F4A7C15))))
        b = _mix(t ^ _mix(bits + _mix(s ^ np.uint64(0xD1B54A32D192ED03))))
    return a, b


def _mix(x: Any) -> Any:
    """splitmix64's finalizer over a uint64 array."""
    import numpy as np

    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))
