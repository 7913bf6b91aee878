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

Those are the only keys. A spec names its deployment and never a location: whoever runs the monitor
reads the deployment's prediction log under its own root (``--log-dir``, default
``$SHIPYARD_HOME/predictions``; a server uses its own home). :func:`validate_spec` is the one check
for every spec, from the CLI, the REST API (``PUT /api/v1/monitoring/monitors/{name}``) or the
store; :func:`run_monitor` checks a stored spec again before it reads anything.

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
KEYS = ("name", "deployment", "window", "every", "checks", "webhook")
QUALITY = {"accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse"}


def validate_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A checked copy of ``spec`` (errors name the field and the valid choices)."""
    from shipyard.core.names import validate_name

    if not isinstance(spec, Mapping):
        raise InvalidInputError("a monitor spec is a mapping with name, deployment, checks")
    out = dict(spec)
    name = str(out.get("name", ""))
    if not _NAME_RE.match(name):
        raise InvalidInputError(f"monitor name {name!r}: use letters, digits, '_', '-', '.' (at most 100)")
    if "log_dir" in out:
        raise InvalidInputError(
            f"monitor {name}: a spec cannot set log_dir; the runner reads its own prediction log "
            "(`shipyard monitor run --log-dir`, default $SHIPYARD_HOME/predictions)"
        )
    unknown_keys = sorted(str(k) for k in set(out) - set(KEYS))
    if unknown_keys:
        raise InvalidInputError(f"monitor {name}: unknown key(s) {unknown_keys}; use {', '.join(KEYS)}")
    if not out.get("deployment"):
        raise InvalidInputError("a monitor needs a deployment (the serving deployment's name)")
    validate_name("deployment", out["deployment"])
    for key in ("window", "every"):
        if not isinstance(out.setdefault(key, "1h"), str):
            raise InvalidInputError(f"monitor {name}: {key} is a span such as 1h, 1d (window also last:N)")
    Window.parse(out["window"], datetime(2000, 1, 1))
    parse_span(out["every"])
    out["checks"] = _checked_checks(name, out.get("checks"))
    if out.get("webhook"):
        from shipyard.monitoring.webhook import check_url

        if not isinstance(out["webhook"], str):
            raise InvalidInputError(f"monitor {name}: webhook is an http(s) URL")
        check_url(out["webhook"])
    return out


def checked_monitor(name: str, deployment: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """``validate_spec(spec)``, refused unless its name and deployment are ``name`` and
    ``deployment`` (the record's keys): what every writer stores."""
    out = validate_spec(spec)
    if out["name"] != name:
        raise InvalidInputError(f"the spec's name {out['name']!r} differs from the monitor's name {name!r}")
    if out["deployment"] != deployment:
        raise InvalidInputError(
            f"the spec's deployment {out['deployment']!r} differs from the given deployment {deployment!r}"
        )
    return out


def _checked_checks(name: str, checks: Any) -> dict[str, Any]:
    if not checks or not isinstance(checks, Mapping):
        raise InvalidInputError(f"monitor {name}: declare at least one check ({', '.join(CHECKS)})")
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise InvalidInputError(f"unknown check(s) {sorted(unknown)}; choose from {', '.join(CHECKS)}")
    for check, cfg in checks.items():
        if not (cfg is None or isinstance(cfg, bool | Mapping)):
            raise InvalidInputError(f"monitor {name}: check {check} takes a mapping of options (or true)")
    drift = checks.get("drift")
    features = drift.get("features") if isinstance(drift, Mapping) else None
    if features is not None and not (
        isinstance(features, Mapping) and all(isinstance(o, Mapping) for o in features.values())
    ):
        raise InvalidInputError(
            "drift check: features maps a feature to {method, threshold}, e.g. {amount: {method: psi}}"
        )
    quality = checks.get("quality")
    bad_quality = quality is not None and (
        not isinstance(quality, Mapping)
        or quality.get("metric") not in QUALITY
        or ("min" in quality) == ("max" in quality)
        or not isinstance(quality.get("min", quality.get("max")), int | float)
    )
    if bad_quality:
        raise InvalidInputError(
            f"quality check: give metric (one of {', '.join(sorted(QUALITY))}) and exactly one of min/max"
        )
    return dict(checks)


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


def _evaluate(stores: Stores, spec: Mapping[str, Any], now: datetime, log_dir: str) -> MonitorRun:
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
            wq = quality_over_time(log_dir, str(spec["deployment"]), window.start, window.end, None)[0]
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

    ``log_dir`` is the runner's prediction log (default ``<stores' home>/predictions``), never the
    spec's.

    ``send(url, payload) -> str`` delivers webhooks (default :func:`shipyard.monitoring.webhook.send`).
    """
    from shipyard.core.clock import utcnow
    from shipyard.monitoring import webhook
    from shipyard.monitoring.logs import default_log_dir

    store = MonitoringStore(stores)
    spec = validate_spec(store.get_monitor(name))  # a record may predate (or bypass) the check
    now = now or utcnow()
    run = _evaluate(stores, spec, now, log_dir or default_log_dir(stores.settings.home))
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
