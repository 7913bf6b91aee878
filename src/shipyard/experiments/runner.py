"""One analysis of an experiment: per metric and window the looks (:mod:`.analysis`), the SRM
check over assigned requests, the guardrails, and the decision (the first metric's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.experiments import stats
from shipyard.experiments.analysis import (
    MetricReport,
    metric_of,
    report,
    sequential,
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


def evaluate(name: str, spec: ExperimentSpec, rows: Rows, start: datetime, end: datetime) -> ExperimentResult:
    """Analyse ``rows`` over ``[start, end)`` in windows of ``spec.window``."""
    import numpy as np

    from shipyard.monitoring.windows import as_utc, parse_span

    start, end = as_utc(start), as_utc(end)
    edges = window_edges(start, end, parse_span(spec.window)) or [(start, end)]
    lo_us = np.array([int(a.timestamp() * 1e6) for a, _ in edges], dtype=np.int64)
    end_us = int(edges[-1][1].timestamp() * 1e6)
    idx = np.searchsorted(lo_us, rows.ts_us, side="right") - 1
    idx = np.where(rows.ts_us < end_us, idx, -1)
    shares = (1 - spec.share / 100, spec.share / 100)
    keys = window_keys(idx, rows.arm, len(edges))  # one bin per row, shared by every metric
    requests = window_sums(idx, rows.arm, np.where(rows.first, 1.0, np.nan), len(edges), keys=keys)
    srm = float(stats.srm_p(requests.n.sum(axis=-1), shares))
    if spec.sticky_key is not None:
        # assigned by a key: the units are what was split, and their requests are clustered
        srm = _unit_srm(rows, idx, shares)
    result = ExperimentResult(name, spec, (int(requests.n[0].sum()), int(requests.n[1].sum())), srm)
    for metric in spec.metrics:
        values = rows.values.get(metric.name)
        if values is None:
            values = np.full(len(rows), np.nan)
        sums = window_sums(idx, rows.arm, values, len(edges), keys=keys)
        assigned = (
            requests.n
            if metric.name in ("latency_ms", "error_rate") or metric.name.startswith("outcome:")
            else None
        )
        looks = sequential(
            sums,
            higher_is_better=metric.higher,
            alpha=spec.alpha,
            min_samples=spec.min_samples,
            shares=shares,
            margin=metric.margin,
            assigned=assigned,
        )
        result.metrics.append(
            report(metric.name, looks, edges, higher_is_better=metric.higher, margin=metric.margin)
        )
    _guardrails(result, spec, rows, idx, len(edges), shares, keys)
    return result


def _unit_srm(rows: Rows, idx: Any, shares: tuple[float, float]) -> float:
    """SRM over distinct units (1.0, not checked, when the key was not logged)."""
    import numpy as np

    if rows.units is None:
        return 1.0
    keep = (idx >= 0) & (rows.units >= 0)
    counts = []
    for arm in (0, 1):
        units = np.sort(rows.units[keep & (rows.arm == arm)])  # vectorised; distinct = changes + 1
        counts.append(int(np.count_nonzero(units[1:] != units[:-1])) + 1 if len(units) else 0)
    return float(stats.srm_p(counts, shares))


def _guardrails(  # noqa: PLR0917
    result: ExperimentResult,
    spec: ExperimentSpec,
    rows: Rows,
    idx: Any,
    windows: int,
    shares: tuple[float, float],
    keys: Any = None,
) -> None:
    import numpy as np

    rails = spec.guardrails
    inside = idx >= 0
    if rails.error_rate is not None and "error_rate" in rows.values:
        looks = sequential(
            window_sums(idx, rows.arm, rows.values["error_rate"], windows, keys=keys),
            higher_is_better=False,
            alpha=spec.alpha,
            min_samples=rails.min_requests,
            shares=shares,
        )
        worse_by = float(looks.cs_low[-1])  # with confidence, the challenger fails at least this much more
        enough = looks.cum_n[:, -1].min() >= rails.min_requests
        if enough and worse_by > rails.error_rate:
            result.breaches.append(Breach("error_rate", rails.error_rate, worse_by))
    if "latency_ms" in rows.values:
        lat = rows.values["latency_ms"]
        p99: list[float | None] = []
        for arm in (0, 1):
            arm_lat = lat[inside & (rows.arm == arm) & np.isfinite(lat)]
            p99.append(float(np.percentile(arm_lat, 99)) if len(arm_lat) >= rails.min_requests else None)
        result.p99_ms = (p99[0], p99[1])
        if rails.p99_latency_ms is not None and p99[0] is not None and p99[1] is not None:
            worse = p99[1] - p99[0]
            if worse > rails.p99_latency_ms:
                result.breaches.append(Breach("p99_latency_ms", rails.p99_latency_ms, worse))
