"""One analysis of an experiment: per metric and window the looks (:mod:`.analysis`), the SRM
check over assigned requests, the guardrails, and the decision (the first metric's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.experiments import stats
from shipyard.experiments.analysis import (
    MetricReport,
    Sums,
    metric_of,
    report,
    sequential,
    window_counts,
    window_keys,
    window_sums,
)
from shipyard.experiments.config import ExperimentSpec

if TYPE_CHECKING:
    from shipyard.experiments.data import Rows


@dataclass(frozen=True)
class Breach:
    guardrail: str  # error_rate | p99_latency_ms
    limit: float
    value: float  # how much worse the challenger is (points, ms)

    def message(self) -> str:
        unit = " ms" if self.guardrail == "p99_latency_ms" else ""
        return (
            f"{self.guardrail}: the challenger is worse by {self.value:.4g}{unit}, "
            f"over the limit of {self.limit:g}{unit}"
        )


@dataclass
class ExperimentResult:
    name: str
    spec: ExperimentSpec
    requests: tuple[int, int]
    srm_p: float
    metrics: list[MetricReport] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    p99_ms: tuple[float | None, float | None] = (None, None)

    @property
    def decision(self) -> str:
        if self.srm_p < stats.SRM_ALPHA:
            return stats.INVALID
        return self.metrics[0].decision if self.metrics else stats.UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.spec.status,
            "reason": self.spec.reason,
            "deployment": self.spec.deployment,
            "environment": self.spec.environment,
            "challenger": self.spec.challenger,
            "share": self.spec.effective_share,
            "unit": self.spec.unit,
            "decision": self.decision,
            "requests": list(self.requests),
            "srm_p": self.srm_p,
            "p99_ms": list(self.p99_ms),
            "breaches": [
                {"guardrail": b.guardrail, "limit": b.limit, "value": b.value} for b in self.breaches
            ],
            "metrics": [m.to_dict() for m in self.metrics],
        }


def result_of(spec: ExperimentSpec, data: dict[str, Any]) -> ExperimentResult:
    """An :class:`ExperimentResult` from its :meth:`ExperimentResult.to_dict` and the spec it
    analysed (a server's answer: ``GET .../experiments/{name}/analysis``)."""
    srm = data["srm_p"]
    p99 = data.get("p99_ms") or [None, None]
    return ExperimentResult(
        name=str(data["name"]),
        spec=spec,
        requests=(int(data["requests"][0]), int(data["requests"][1])),
        srm_p=float("nan") if srm is None else float(srm),
        metrics=[metric_of(m) for m in data["metrics"]],
        breaches=[
            Breach(str(b["guardrail"]), float(b["limit"]), float(b["value"])) for b in data["breaches"]
        ],
        p99_ms=(None if p99[0] is None else float(p99[0]), None if p99[1] is None else float(p99[1])),
    )


def window_edges(start: datetime, end: datetime, every: timedelta) -> list[tuple[datetime, datetime]]:
    from shipyard.monitoring.windows import buckets

    return buckets(start, end, every)


@dataclass
class Observed:
    """What an analysis reads, as sums per arm (axis 0: control, challenger) and window (axis 1):
    built from rows (:func:`observe`) or merged from cached per-segment statistics
    (:mod:`.incremental`); :func:`evaluate_observed` gives the same result from either."""

    edges: list[tuple[datetime, datetime]]
    requests: Any  # (2, W) requests (a request's row 0) per window
    metrics: dict[str, Sums]
    units: Any = None  # (2, W) distinct units first seen in the window (None: the key was not logged)
    p99_ms: tuple[float | None, float | None] = (None, None)


def edges_of(spec: ExperimentSpec, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    from shipyard.monitoring.windows import as_utc, parse_span

    start, end = as_utc(start), as_utc(end)
    return window_edges(start, end, parse_span(spec.window)) or [(start, end)]


def evaluate(name: str, spec: ExperimentSpec, rows: Rows, start: datetime, end: datetime) -> ExperimentResult:
    """Analyse ``rows`` over ``[start, end)`` in windows of ``spec.window``."""
    return evaluate_observed(name, spec, observe(spec, rows, start, end))


def observe(spec: ExperimentSpec, rows: Rows, start: datetime, end: datetime) -> Observed:
    """The sums of ``rows`` in ``[start, end)`` (one bin key per row, shared by every metric)."""
    import numpy as np

    edges = edges_of(spec, start, end)
    lo_us = np.array([int(a.timestamp() * 1e6) for a, _ in edges], dtype=np.int64)
    end_us = int(edges[-1][1].timestamp() * 1e6)
    idx = np.searchsorted(lo_us, rows.ts_us, side="right") - 1
    idx = np.where(rows.ts_us < end_us, idx, -1)
    keys = window_keys(idx, rows.arm, len(edges))
    requests = window_counts(rows.first, keys, len(edges))
    metrics = {}
    for metric in spec.metrics:
        values = rows.values.get(metric.name)
        if values is None:
            values = np.full(len(rows), np.nan)
        metrics[metric.name] = window_sums(idx, rows.arm, values, len(edges), keys=keys)
    units = None
    if spec.sticky_key is not None and rows.units is not None:
        keep = (idx >= 0) & (rows.units >= 0) & ((rows.arm == 0) | (rows.arm == 1))
        found, first = first_seen(unit_keys(rows.units[keep], rows.arm[keep]), idx[keep])
        units = new_units(found, first, len(edges))
    p99: list[float | None] = [None, None]
    if "latency_ms" in rows.values:
        lat = rows.values["latency_ms"]
        inside = idx >= 0
        for arm in (0, 1):
            arm_lat = lat[inside & (rows.arm == arm) & np.isfinite(lat)]
            if len(arm_lat) >= spec.guardrails.min_requests:
                p99[arm] = float(np.percentile(arm_lat, 99))
    return Observed(edges, requests, metrics, units, (p99[0], p99[1]))


def unit_keys(units: Any, arm: Any) -> Any:
    """One 64-bit key per (arm, unit): the unit id (>= 0, below 2**63) with the arm in the top bit."""
    import numpy as np

    return np.asarray(units).astype(np.uint64) | (np.asarray(arm).astype(np.uint64) << np.uint64(63))


def first_seen(keys: Any, window: Any) -> tuple[Any, Any]:
    """The distinct ``keys`` (sorted) and, for each, the smallest ``window`` it was seen in. Two
    sorts of 64-bit words (vectorised), no argsort: the keys, and the keys with their low bits
    replaced by the window (the smallest of a key's words holds its first window). When two keys
    differ only in those low bits (their words would mix), the argsort does it."""
    import numpy as np

    keys = np.asarray(keys, dtype=np.uint64)
    if not len(keys):
        return keys, np.zeros(0, dtype=np.int64)
    window = np.asarray(window, dtype=np.int64)
    w0 = int(window.min())
    bits = max(1, (int(window.max()) - w0).bit_length())
    if bits <= 16:
        low = np.uint64((1 << bits) - 1)
        found = np.sort(keys)
        starts = np.empty(len(keys), dtype=bool)  # (one mask for both sorts: few fresh pages)
        starts[0] = True
        np.not_equal(found[1:], found[:-1], out=starts[1:])
        found = found[starts]
        words = np.bitwise_and(keys, ~low)
        offset = window - w0 if w0 else window
        words |= offset.view(np.uint64)  # (>= 0: the same bits)
        words.sort()
        # sorted: a word starts a new group of high bits when it is above the last one's group
        np.greater(words[1:], words[:-1] | low, out=starts[1:])
        if int(np.count_nonzero(starts)) == len(found):  # no two keys share their high bits
            first = words[starts]
            first &= low
            first = first.view(np.int64)
            return found, first + w0 if w0 else first
    order = np.argsort(keys)
    sk = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], sk[1:] != sk[:-1])))
    return sk[starts], np.minimum.reduceat(window[order], starts)


def new_units(keys: Any, first: Any, windows: int) -> Any:
    """(2, W): per arm, the units first seen in each window (``first``: window indices)."""
    import numpy as np

    arm = (np.asarray(keys, dtype=np.uint64) >> np.uint64(63)).astype(np.int64)
    bins = np.bincount(arm * windows + np.asarray(first, dtype=np.int64), minlength=2 * windows)
    return bins[: 2 * windows].astype(np.float64).reshape(2, windows)


def evaluate_observed(name: str, spec: ExperimentSpec, seen: Observed) -> ExperimentResult:
    """The report of :class:`Observed` sums. The sample-ratio check counts what was assigned:
    distinct units per arm when assignment is by a key (requests of one unit are not independent,
    and their number per unit may differ by arm), requests when it is by request; the same counts
    for every metric, cumulated to each look (not checked, p = 1, when the key was not logged)."""
    import numpy as np

    shares = (1 - spec.share / 100, spec.share / 100)
    windows = len(seen.edges)
    requests = np.asarray(seen.requests, dtype=np.float64)
    if spec.sticky_key is None:
        assigned = requests
    elif seen.units is not None:
        assigned = np.asarray(seen.units, dtype=np.float64)
    else:
        assigned = np.zeros((2, windows))
    srm = float(stats.srm_p(assigned.sum(axis=-1), shares))
    result = ExperimentResult(name, spec, (int(requests[0].sum()), int(requests[1].sum())), srm)
    for metric in spec.metrics:
        looks = sequential(
            seen.metrics[metric.name],
            higher_is_better=metric.higher,
            alpha=spec.alpha,
            min_samples=spec.min_samples,
            shares=shares,
            margin=metric.margin,
            assigned=assigned,
        )
        result.metrics.append(
            report(metric.name, looks, seen.edges, higher_is_better=metric.higher, margin=metric.margin)
        )
    _guardrails(result, spec, seen, shares)
    return result


def _guardrails(
    result: ExperimentResult, spec: ExperimentSpec, seen: Observed, shares: tuple[float, float]
) -> None:
    rails = spec.guardrails
    if rails.error_rate is not None and "error_rate" in seen.metrics:
        looks = sequential(
            seen.metrics["error_rate"],
            higher_is_better=False,
            alpha=spec.alpha,
            min_samples=rails.min_requests,
            shares=shares,
        )
        worse_by = float(looks.cs_low[-1])  # with confidence, the challenger fails at least this much more
        enough = looks.cum_n[:, -1].min() >= rails.min_requests
        if enough and worse_by > rails.error_rate:
            result.breaches.append(Breach("error_rate", rails.error_rate, worse_by))
    p99 = seen.p99_ms
    if "latency_ms" in seen.metrics:
        result.p99_ms = p99
        if rails.p99_latency_ms is not None and p99[0] is not None and p99[1] is not None:
            worse = p99[1] - p99[0]
            if worse > rails.p99_latency_ms:
                result.breaches.append(Breach("p99_latency_ms", rails.p99_latency_ms, worse))
