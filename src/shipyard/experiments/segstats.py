"""Sufficient statistics of a group of prediction-log segments, and their merge into what one
analysis reads (:class:`shipyard.experiments.runner.Observed`). Pure numpy, no I/O.

A group's statistics are kept per arm and per absolute window (``ts_us // span_us``: windows are
aligned to the epoch, as :func:`shipyard.monitoring.windows.buckets` cuts them), so they do not
depend on where an analysis starts: per metric the count, sum and sum of squares (about the
group's own shift, re-centred when groups are merged), the requests, the distinct assignment units
with the first window each was seen in (distinct counts do not add up across groups: the units
are merged), the largest latencies of each arm (enough for an exact p99 in the usual case; the
caller recomputes when they are not), and the group's request ids (hashed, sorted) so that a label
or outcome file that arrives later can be checked against the group without reading its rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.experiments.analysis import Sums, window_counts, window_keys, window_sums
from shipyard.experiments.runner import Observed, edges_of, first_seen, new_units, unit_keys

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from shipyard.experiments.config import ExperimentSpec
    from shipyard.experiments.data import Rows

    Floats = npt.NDArray[np.float64]

TOP_SHARE, TOP_MIN = 0.02, 64  # latencies kept per arm: the largest 2 % (at least 64)


@dataclass
class GroupStats:
    """One group's statistics (arrays over ``windows`` absolute windows from ``k0``)."""

    k0: int
    windows: int
    rows: int
    min_ts: int
    max_ts: int
    requests: Floats  # (2, windows)
    metrics: dict[str, Sums]
    rid: Any  # uint64: the distinct request-id hashes, sorted
    units: Any | None  # uint64 unit keys (arm in the top bit), sorted; None: the key was not logged
    unit_first: Any  # int64: each unit's first absolute window
    lat_n: tuple[int, int] = (0, 0)  # finite latencies per arm
    lat_top: tuple[Any, Any] = field(default_factory=lambda: (None, None))  # the largest, ascending
    # quality metrics, per label file holding rows' newest labels (path -> metric -> sums): the
    # group's sums are these combined in path order, so labels for requests it had none for
    # extend it by the new files' sums alone
    partials: dict[str, dict[str, Sums]] = field(default_factory=dict)
    labelled: Any = None  # uint64: the request-id hashes of its rows that have a label, sorted

    @property
    def complete(self) -> tuple[bool, bool]:
        """Whether every latency of the arm is kept."""
        return (
            self.lat_top[0] is None or len(self.lat_top[0]) == self.lat_n[0],
            self.lat_top[1] is None or len(self.lat_top[1]) == self.lat_n[1],
        )


def partial_sums(  # noqa: PLR0917
    rows: Rows,
    local: Any,
    windows: int,
    quality: list[str],
    label_file: Any,
    paths: list[str],
    keys: Any = None,
) -> dict[str, dict[str, Sums]]:
    """Per label file holding some rows' newest label (``label_file``: an index into ``paths``,
    -1 for none), the quality metrics' sums over those rows (in row order: a stable sort by file;
    ``keys``: the rows' bins, :func:`shipyard.experiments.analysis.window_keys`)."""
    import numpy as np

    out: dict[str, dict[str, Sums]] = {}
    if not len(label_file) or int(label_file.max()) < 0:
        return out
    small = np.int16 if len(paths) < 2**15 else np.int64  # 16 bits: numpy's radix sort
    order = np.argsort(np.asarray(label_file).astype(small), kind="stable")
    ordered = np.asarray(label_file)[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))  # each file's first
    stops = np.append(starts[1:], len(ordered))
    files = ordered[starts]
    keep = files >= 0  # (-1: rows with no label)
    files, starts, stops = files[keep], starts[keep], stops[keep]
    key = window_keys(local, rows.arm, windows) if keys is None else keys
    for f, a, b in zip(files.tolist(), starts.tolist(), stops.tolist(), strict=True):
        at = order[a:b]
        k = key[at]
        out[paths[f]] = {
            name: window_sums(None, None, rows.values[name][at], windows, keys=k) for name in quality
        }
    return out


def combine(stats: GroupStats, quality: list[str]) -> None:
    """The group's quality sums from its per-file sums (in path order)."""
    import numpy as np

    zero = np.zeros((2, stats.windows))
    for name in quality:
        parts = [stats.partials[path][name] for path in sorted(stats.partials)]
        stats.metrics[name] = shift_sums(parts) or Sums(zero, zero.copy(), zero.copy())


def compute(  # noqa: PLR0917
    rows: Rows,
    rid: Any,
    span_us: int,
    metrics: list[str],
    quality: list[str],
    label_file: Any = None,
    paths: list[str] | None = None,
    *,
    all_latencies: bool = False,
) -> GroupStats:
    """The statistics of ``rows`` (one group's; ``rid``: each row's request-id hash; the
    ``quality`` metrics from their labels' files, see :func:`partial_sums`)."""
    import numpy as np

    n = len(rows)
    if n == 0:
        empty = np.zeros((2, 0))
        return GroupStats(
            0, 0, 0, 0, 0, empty, {m: Sums(empty, empty, empty) for m in metrics},
            np.zeros(0, np.uint64), None if rows.units is None else np.zeros(0, np.uint64),
            np.zeros(0, np.int64), labelled=np.zeros(0, np.uint64),
        )  # fmt: skip
    k = rows.ts_us // span_us
    k0 = int(k.min())
    windows = int(k.max()) - k0 + 1
    local = k - k0
    key = window_keys(local, rows.arm, windows)  # shared by every sum of the group
    requests = window_counts(rows.first, key, windows)
    sums = {}
    for name in metrics:
        if name in quality:
            continue
        values = rows.values.get(name)
        values = np.full(n, np.nan) if values is None else values
        sums[name] = window_sums(None, None, values, windows, keys=key)
    if label_file is None:
        label_file = np.full(n, -1, dtype=np.int64)
    units, first = None, np.zeros(0, np.int64)
    if rows.units is not None:
        keep = rows.units >= 0
        if bool(keep.all()):  # (no copies)
            units, first = first_seen(unit_keys(rows.units, rows.arm), k)
        else:
            units, first = first_seen(unit_keys(rows.units[keep], rows.arm[keep]), k[keep])
    stats = GroupStats(
        k0, windows, n, int(rows.ts_us.min()), int(rows.ts_us.max()), requests, sums,
        distinct(rid), units, first,
    )  # fmt: skip
    stats.partials = partial_sums(rows, local, windows, quality, label_file, paths or [], key)
    stats.labelled = labelled_of(stats.rid, rid, label_file)
    combine(stats, quality)
    lat = rows.values.get("latency_ms")
    if lat is not None:
        tops, counts = [], []
        finite = np.isfinite(lat)
        for arm in (0, 1):
            values = lat[(rows.arm == arm) & finite]
            keep_n = (
                len(values)
                if all_latencies
                else min(len(values), max(TOP_MIN, math.ceil(TOP_SHARE * len(values))))
            )
            top = np.partition(values, len(values) - keep_n)[len(values) - keep_n :] if keep_n else values[:0]
            tops.append(np.sort(top))
            counts.append(len(values))
        stats.lat_n, stats.lat_top = (counts[0], counts[1]), (tops[0], tops[1])
    return stats


def distinct(values: Any) -> Any:
    """The sorted distinct values of a uint64 array (a sort: numpy's hash-based unique is slower
    on millions of 64-bit hashes)."""
    import numpy as np

    out = np.sort(np.asarray(values, dtype=np.uint64))
    if len(out) < 2:
        return out
    keep = np.empty(len(out), dtype=bool)
    keep[0] = True
    np.not_equal(out[1:], out[:-1], out=keep[1:])
    return out[keep]


def labelled_of(distinct_rid: Any, rid: Any, label_file: Any) -> Any:
    """The sorted distinct request-id hashes of the rows that have a label (``label_file >= 0``),
    given ``distinct_rid``, :func:`distinct` of all rows' ``rid``: that array itself when every row
    has one (no second sort: a group whose labels have all arrived), else a sort of the subset."""
    import numpy as np

    has = np.asarray(label_file) >= 0
    if bool(has.all()):
        return distinct_rid
    if not bool(has.any()):
        return np.zeros(0, np.uint64)
    return distinct(np.asarray(rid)[has])


def _percentile_99(top_desc: Floats, total: int) -> float:
    """numpy's linear 99th percentile of ``total`` values whose largest are ``top_desc`` (the
    same arithmetic: virtual index ``(n - 1) * q``, then numpy's two-sided lerp)."""
    import numpy as np

    virtual = (total - 1) * (np.float64(99) / 100)
    below = int(np.floor(virtual))
    if virtual >= total - 1:
        return float(top_desc[0])
    a, b = float(top_desc[total - 1 - below]), float(top_desc[total - 2 - below])
    t = float(virtual - below)
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def p99(groups: list[GroupStats], arm: int, min_requests: int) -> float | bool | None:
    """The arm's p99 latency over ``groups`` (None: fewer than ``min_requests``; False: the kept
    latencies do not decide it, so the caller must keep every latency of the truncated groups)."""
    import numpy as np

    total = sum(g.lat_n[arm] for g in groups)
    if total < min_requests or total == 0:
        return None
    tops = [g.lat_top[arm] for g in groups if g.lat_top[arm] is not None and len(g.lat_top[arm])]
    union = -np.sort(-np.concatenate(tops)) if tops else np.zeros(0)
    below = int(np.floor((total - 1) * (np.float64(99) / 100)))
    need = total - min(max(below, 0), total - 1)  # the rank (from the top) of the lower neighbour
    if len(union) < need:
        return False
    threshold = union[need - 1]
    for g in groups:
        top = g.lat_top[arm]
        if top is not None and len(top) < g.lat_n[arm] and (not len(top) or top[0] > threshold):
            return False  # an unkept latency of this group could rank above the threshold
    return _percentile_99(union, total)


def shift_sums(parts: list[Sums]) -> Sums | None:
    """Sums about one shift (the first non-empty part's) from sums about each part's own shift."""
    base = next((p.shift for p in parts if p.n.sum() > 0), None)
    if base is None:
        return None
    n = s = ss = None
    for p in parts:
        d = p.shift - base
        ps, pss = p.s + p.n * d, p.ss + 2 * d * p.s + p.n * d * d
        n, s, ss = (p.n, ps, pss) if n is None else (n + p.n, s + ps, ss + pss)  # type: ignore[operator]
    assert n is not None and s is not None and ss is not None
    return Sums(n, s, ss, base)


def merge(
    spec: ExperimentSpec, groups: list[GroupStats], end: datetime, span_us: int
) -> tuple[Observed, datetime]:
    """What an analysis from the first logged row to ``end`` reads, and where it starts. Every
    group's rows are before ``end`` (the caller's check)."""
    import numpy as np

    filled = [g for g in groups if g.rows]
    min_ts = min((g.min_ts for g in filled), default=None)
    start = end if min_ts is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=min_ts)
    edges = edges_of(spec, start, max(end, start))
    windows = len(edges)
    k_start = int(start.timestamp() * 1e6) // span_us if min_ts is None else min_ts // span_us

    def place(g: GroupStats, array: Floats) -> Floats:
        out = np.zeros((2, windows))
        a = g.k0 - k_start
        lo, hi = max(a, 0), min(a + g.windows, windows)
        if hi > lo:
            out[:, lo:hi] = array[:, lo - a : hi - a]
        return out

    requests = np.zeros((2, windows))
    for g in filled:
        requests += place(g, g.requests)
    metrics = {}
    for metric in spec.metrics:
        placed = [
            Sums(place(g, g.metrics[metric.name].n), place(g, g.metrics[metric.name].s),
                 place(g, g.metrics[metric.name].ss), g.metrics[metric.name].shift)
            for g in filled
        ]  # fmt: skip
        zero = np.zeros((2, windows))
        metrics[metric.name] = shift_sums(placed) or Sums(zero, zero.copy(), zero.copy())
    units = None
    if spec.sticky_key is not None and filled and all(g.units is not None for g in filled):
        found, first = first_seen(
            np.concatenate([g.units for g in filled]), np.concatenate([g.unit_first for g in filled])
        )
        inside = (first >= k_start) & (first < k_start + windows)
        units = new_units(found[inside], first[inside] - k_start, windows)
    seen = Observed(edges, requests, metrics, units)
    return seen, start
