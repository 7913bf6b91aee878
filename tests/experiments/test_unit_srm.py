"""The sample-ratio check counts what was assigned: distinct units per arm under key assignment
(however many requests each unit sends), requests under request assignment; the same for every
metric's looks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from shipyard.experiments import stats
from shipyard.experiments.config import ExperimentSpec
from shipyard.experiments.data import Rows
from shipyard.experiments.runner import evaluate

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _rows(per_unit: tuple[int, int], units: int = 400) -> Rows:
    """``units`` per arm (split exactly 50/50); each control unit sends ``per_unit[0]`` requests,
    each challenger unit ``per_unit[1]``, within the unit's own (random) hour of four."""
    rng = np.random.default_rng(3)
    unit = np.concatenate(
        [np.repeat(np.arange(units), per_unit[0]), np.repeat(units + np.arange(units), per_unit[1])]
    )
    arm = (unit >= units).astype(np.int8)
    n = len(unit)
    hour = rng.integers(0, 4, 2 * units)[unit]
    ts = int(T0.timestamp() * 1e6) + hour * 3600 * 10**6 + rng.integers(0, 3600 * 10**6, n)
    rows = Rows(ts.astype(np.int64), arm, np.ones(n, dtype=bool), units=unit.astype(np.int64))
    rows.values["latency_ms"] = rng.gamma(2.0, 4.0, n)
    rows.values["accuracy"] = (rng.random(n) < 0.8).astype(np.float64)
    return rows


def _spec(unit: str) -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {
            "deployment": "api",
            "challenger": "models:/fraud/2",
            "share": 50,
            "unit": unit,
            "metrics": [{"name": "accuracy"}, {"name": "latency_ms"}],
            "min_samples": 100,
        }
    )


def test_units_sending_more_requests_in_one_arm_are_no_mismatch_under_key_assignment() -> None:
    rows = _rows((1, 3))  # 400 units each side; 400 vs 1,200 requests
    result = evaluate("ab", _spec("customer_id"), rows, T0, T0 + timedelta(hours=4))
    assert result.requests == (400, 1200)
    assert result.srm_p > 0.5  # 400 vs 400 units: no mismatch
    for metric in result.metrics:
        # each look's check counts the units seen up to its end (before: the metric's rows)
        assert all(w.srm_p > stats.SRM_ALPHA for w in metric.windows), metric.name
        assert metric.decision != stats.INVALID
    assert result.decision != stats.INVALID
    assert result.metrics[0].windows[-1].srm_p == result.srm_p


def test_under_request_assignment_requests_are_counted() -> None:
    rows = _rows((1, 3))
    result = evaluate("ab", _spec("request"), rows, T0, T0 + timedelta(hours=4))
    assert result.srm_p < 1e-6 and result.decision == stats.INVALID  # 400 vs 1,200 requests
    assert all(m.windows[-1].srm_p < stats.SRM_ALPHA for m in result.metrics)


def test_a_real_unit_mismatch_is_still_flagged_per_metric() -> None:
    rows = _rows((2, 2))
    keep = (rows.arm == 0) | (rows.units < 400 + 300)  # 100 challenger units lost
    cut = Rows(rows.ts_us[keep], rows.arm[keep], rows.first[keep], units=rows.units[keep])
    cut.values = {k: v[keep] for k, v in rows.values.items()}
    result = evaluate("ab", _spec("customer_id"), cut, T0, T0 + timedelta(hours=4))
    assert result.srm_p < stats.SRM_ALPHA
    assert all(m.decision == stats.INVALID for m in result.metrics)
