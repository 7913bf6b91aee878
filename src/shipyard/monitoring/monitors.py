"""Monitors: declared checks on a deployment, evaluated on demand or on a schedule.

A spec (YAML or JSON; ``shipyard monitor create SPEC``)::

    name: fraud-health
    deployment: fraud
    window: 1h            # what each run looks at (1h, 1d, last:N)
    every: 15m            # schedule for `shipyard monitor run --loop` / the server
    checks:
      drift: {max_share: 0.5, features: {amount: {method: psi, threshold: 0.2}}}
      prediction_drift: true
      quality: {metric: f1, min: 0.8}     # or {metric: rmse, max: 3.5}
      volume: {min: 100}                   # predictions in the window
    webhook: https://hooks.example.com/T0/B0   # host must be on SHIPYARD_WEBHOOK_ALLOWLIST

Each run stores one result row per check and subject (a time series) and turns breaches into
alerts: a breach with no open alert for the same key opens one (and posts the webhook); a breach
that is still going on only updates the open alert; a passing check resolves it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError
from shipyard.monitoring.store import Alert, MonitoringStore, ResultRow
from shipyard.monitoring.windows import Window, parse_span

if TYPE_CHECKING:
    from shipyard.tracking.stores import Stores

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
CHECKS = ("drift", "prediction_drift", "quality", "volume")
QUALITY = {"accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse"}


def validate_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A checked copy of ``spec`` (errors name the field and the valid choices)."""
    out = dict(spec)
    name = str(out.get("name", ""))
    if not _NAME_RE.match(name):
        raise InvalidInputError(f"monitor name {name!r}: use letters, digits, '_', '-', '.' (at most 100)")
    if not out.get("deployment"):
        raise InvalidInputError("a monitor needs a deployment (the serving deployment's name)")
    Window.parse(str(out.setdefault("window", "1h")), datetime(2000, 1, 1))
    parse_span(str(out.setdefault("every", "1h")))
    checks = dict(out.get("checks") or {})
    if not checks:
        raise InvalidInputError(f"monitor {name}: declare at least one check ({', '.join(CHECKS)})")
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise InvalidInputError(f"unknown check(s) {sorted(unknown)}; choose from {', '.join(CHECKS)}")
    quality = checks.get("quality")
    bad_quality = quality is not None and (
        quality.get("metric") not in QUALITY or ("min" in quality) == ("max" in quality)
    )
    if bad_quality:
        raise InvalidInputError(
            f"quality check: give metric (one of {', '.join(sorted(QUALITY))}) and exactly one of min/max"
        )
    if out.get("webhook"):
        from shipyard.monitoring.webhook import check_url

        check_url(str(out["webhook"]))
    out["checks"] = checks
    return out


@dataclass
class MonitorRun:
    monitor: str
    at: datetime
    results: list[ResultRow] = field(default_factory=list)
    opened: list[Alert] = field(default_factory=list)
    ongoing: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "at": self.at.isoformat(),
            "results": [
                {
                    "check": r.check,
                    "subject": r.subject,
                    "value": r.value,
                    "threshold": r.threshold,
                    "breached": r.breached,
                }
                for r in self.results
            ],
            "opened": [a.key for a in self.opened],
            "ongoing": self.ongoing,
            "resolved": self.resolved,
            "notes": self.notes,
        }


def _evaluate(stores: Stores, spec: Mapping[str, Any], now: datetime, log_dir: str | None) -> MonitorRun:
    from shipyard.monitoring.quality import quality_over_time
    from shipyard.monitoring.service import deployment_drift

    name, checks = str(spec["name"]), dict(spec["checks"])
    window = Window.parse(str(spec.get("window", "1h")), now)
    run = MonitorRun(name, now)

    def add(  # noqa: PLR0917
        check: str,
        subject: str,
        value: float | None,
        threshold: float | None,
        breached: bool,
        detail: dict[str, Any] | None = None,
    ) -> None:
        run.results.append(ResultRow(name, now, check, subject, value, threshold, breached, detail))

    if "drift" in checks or "prediction_drift" in checks:
        cfg = dict(checks.get("drift") or {})
        overrides = {
            f: (o.get("method"), o.get("threshold")) for f, o in dict(cfg.get("features") or {}).items()
        }
        outcome = deployment_drift(
            stores, str(spec["deployment"]), window, log_dir=log_dir, overrides=overrides
        )
        if outcome.report is None:
            run.notes.append(f"drift: {outcome.note}")
        else:
            report = outcome.report
            if "drift" in checks:
                for f in report.features:
                    add(
                        "drift",
                        f.feature,
                        f.score,
                        f.threshold,
                        f.drift,
                        {"method": f.method, "p_value": f.p_value},
                    )
                limit = float(cfg.get("max_share", 0.5))
                add(
                    "drift",
                    "dataset",
                    report.drift_share,
                    limit,
                    report.drift_share >= limit and bool(report.features),
                )
            if "prediction_drift" in checks and report.prediction is not None:
                p = report.prediction
                add("prediction_drift", "prediction", p.score, p.threshold, p.drift, {"method": p.method})
    if "quality" in checks or "volume" in checks:
        if window.start is None or window.end is None:
            run.notes.append("quality/volume need a time window (1h, 1d), not last:N")
        else:
            wq = quality_over_time(
                _log_dir(log_dir), str(spec["deployment"]), window.start, window.end, None
            )[0]
            if "volume" in checks:
                minimum = float(dict(checks["volume"]).get("min", 1))
                add("volume", "predictions", float(wq.predictions), minimum, wq.predictions < minimum)
            q = dict(checks.get("quality") or {})
            if q:
                metric = str(q["metric"])
                value = wq.metrics.get(metric)
                if value is None:
                    run.notes.append(
                        f"quality: {wq.note or metric + ' not available'} ({wq.labelled} labelled rows)"
                    )
                else:
                    limit = float(q["min"] if "min" in q else q["max"])
                    breached = value < limit if "min" in q else value > limit
                    add("quality", metric, value, limit, breached, {"labelled": wq.labelled})
    return run


def _log_dir(log_dir: str | None) -> str:
    from shipyard.monitoring.logs import default_log_dir

    return log_dir or default_log_dir()


def _message(name: str, row: ResultRow) -> str:
    detail = row.detail or {}
    if detail.get("p_value") is not None and row.threshold is not None:
        return (
            f"{name}: {row.check} of {row.subject}: {detail.get('method')} p-value "
            f"{detail['p_value']:.3g} < {row.threshold:g} (statistic {row.value:.4g})"
        )
    if row.value is not None and row.threshold is not None:
        return f"{name}: {row.check} of {row.subject} is {row.value:.4g} (threshold {row.threshold:.4g})"
    return f"{name}: {row.check}:{row.subject} breached"


def run_monitor(
    stores: Stores, name: str, *, now: datetime | None = None, log_dir: str | None = None, send: Any = None
) -> MonitorRun:
    """Evaluate monitor ``name``, store its results, open/refresh/resolve alerts (see module doc).

    ``send(url, payload) -> str`` delivers webhooks (default :func:`shipyard.monitoring.webhook.send`).
    """
    from shipyard.core.clock import utcnow
    from shipyard.monitoring import webhook

    store = MonitoringStore(stores)
    spec = store.get_monitor(name)
    now = now or utcnow()
    run = _evaluate(stores, spec, now, log_dir or spec.get("log_dir"))
    store.add_results(run.results)
    deliver = send or webhook.send
    for row in run.results:
        key = f"{row.check}:{row.subject}"
        current = store.open_alert(name, key)
        if row.breached and current is not None:
            store.touch_alert(current.id, now, row.value)
            run.ongoing.append(key)
        elif row.breached:
            message = _message(name, row)
            alert = store.create_alert(name, key, now, row.value, message)
            delivery = "no webhook"
            if spec.get("webhook"):
                payload = {
                    "monitor": name,
                    "deployment": spec["deployment"],
                    "key": key,
                    "value": row.value,
                    "threshold": row.threshold,
                    "message": message,
                    "at": now.isoformat(),
                }
                try:
                    delivery = str(deliver(str(spec["webhook"]), payload))
                except Exception as exc:  # a refused URL or a broken hook never stops the run
                    delivery = f"failed: {exc}"
            store.set_delivery(alert.id, delivery)
            run.opened.append(alert)
        elif current is not None:
            store.resolve_alert(current.id, now)
            run.resolved.append(key)
    return run
