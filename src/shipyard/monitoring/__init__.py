"""Monitoring: reference profiles, drift, late labels and quality, monitors and alerts, explanations.

- ``sketch``: mergeable fixed-grid histograms (numbers) and bounded counts (categories).
- ``profile``: :func:`build_profile` — one streaming pass over a DataFrame / Arrow / Parquet.
- ``stats``: KS, Wasserstein, PSI, chi-squared, Jensen-Shannon, Z-test from sketches (error bounds
  in its docstring); ``drift``: Evidently's default test choice, per-feature overrides.
- ``logs``: the prediction log as monitoring reads it, and :func:`log_labels` (late ground truth);
  ``quality``: metrics per time window; ``windows``: ``1h`` / ``1d`` / ``last:N``.
- ``service``: :func:`log_reference` (in a training run), :func:`deployment_drift`;
  ``monitors``: declared checks, results time series, de-duplicated alerts; ``webhook``:
  allow-listed, no redirects; ``store``: the SQL tables; ``explain``: importance, contributions;
  ``report``: the self-contained HTML report.

Heavy modules load on first use of a name below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.monitoring.drift import DriftReport, drift_report
    from shipyard.monitoring.logs import log_labels
    from shipyard.monitoring.monitors import run_monitor
    from shipyard.monitoring.profile import Profile, build_profile
    from shipyard.monitoring.service import deployment_drift, log_reference, save_reference

__all__ = [
    "DriftReport",
    "Profile",
    "build_profile",
    "deployment_drift",
    "drift_report",
    "log_labels",
    "log_reference",
    "run_monitor",
    "save_reference",
]

_WHERE = {
    "DriftReport": "shipyard.monitoring.drift",
    "drift_report": "shipyard.monitoring.drift",
    "log_labels": "shipyard.monitoring.logs",
    "run_monitor": "shipyard.monitoring.monitors",
    "Profile": "shipyard.monitoring.profile",
    "build_profile": "shipyard.monitoring.profile",
    "deployment_drift": "shipyard.monitoring.service",
    "log_reference": "shipyard.monitoring.service",
    "save_reference": "shipyard.monitoring.service",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'shipyard.monitoring' has no attribute {name!r}")
