"""The MonitoringRecords contract (shipyard.metadata.monitoring), over every metadata backend:
SQLite, Postgres and a shipyard server (REST)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from shipyard.core.errors import NotFoundError
from shipyard.metadata import MetadataStore
from shipyard.metadata.monitoring import MonitoringRecords, ResultRow, open_monitoring_records

T0 = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture
def records(metadata_store: MetadataStore) -> MonitoringRecords:
    return open_monitoring_records(metadata_store)


def test_profiles_are_replaced_and_keep_their_importance(records: MonitoringRecords) -> None:
    assert records.get_profile("fraud", 1) is None
    with pytest.raises(NotFoundError, match="no reference profile"):
        records.set_importance("fraud", 1, {"a": 0.5})
    records.put_profile("fraud", 1, "a" * 64, 1000, T0)
    entry = records.get_profile("fraud", 1)
    assert entry is not None and (entry.digest, entry.rows, entry.created_at) == ("a" * 64, 1000, T0)
    assert entry.importance is None
    records.set_importance("fraud", 1, {"amount": 0.25, "age": math.nan, "method": "permutation"})
    records.put_profile("fraud", 1, "b" * 64, 2000, T0 + timedelta(hours=1))  # a new profile
    again = records.get_profile("fraud", 1)
    assert again is not None and again.digest == "b" * 64 and again.rows == 2000
    assert again.importance is not None and again.importance["amount"] == 0.25
    assert math.isnan(again.importance["age"]) and again.importance["method"] == "permutation"
    assert records.get_profile("fraud", 2) is None


def test_monitors_are_created_replaced_and_listed(records: MonitoringRecords) -> None:
    with pytest.raises(NotFoundError, match=r"no monitor 'drift'; known: none"):
        records.get_monitor("drift")
    spec = {"name": "drift", "deployment": "fraud", "window": "1h", "every": "1h",
            "checks": {"drift": {"max_share": 0.2}}}  # fmt: skip
    records.put_monitor("drift", "fraud", spec, T0)
    records.put_monitor("alpha", "fraud", {**spec, "name": "alpha"}, T0)
    assert records.get_monitor("drift") == spec
    changed = {**spec, "checks": {"drift": {"max_share": 0.3}}}
    records.put_monitor("drift", "fraud", changed, T0 + timedelta(minutes=1))
    assert records.get_monitor("drift") == changed
    assert [m["name"] for m in records.list_monitors()] == ["alpha", "drift"]
    with pytest.raises(NotFoundError, match="known: alpha, drift"):
        records.get_monitor("nope")


def test_results_come_back_in_time_order_from_since(records: MonitoringRecords) -> None:
    rows = [
        ResultRow("m", T0 + timedelta(minutes=i), "psi", f"f{i}", 0.1 * i, 0.2, i > 2, {"p": i})
        for i in (3, 0, 2, 1)
    ]
    rows.append(ResultRow("m", T0, "ks", "x", math.inf, None, True, None))
    rows.append(ResultRow("other", T0, "psi", "f", 1.0, 0.2, True))
    records.add_results(rows)
    records.add_results([])
    found = records.results("m")
    mine = [r for r in rows if r.monitor == "m"]
    assert found == sorted(mine, key=lambda r: r.at)  # by time; ties in the order they were added
    assert [r.subject for r in found if r.check == "psi"] == ["f0", "f1", "f2", "f3"]
    inf_row = next(r for r in found if r.check == "ks")
    assert inf_row.value == math.inf and inf_row.threshold is None and inf_row.detail is None
    assert next(r for r in found if r.subject == "f3").detail == {"p": 3} and found[-1].breached
    later = records.results("m", since=T0 + timedelta(minutes=2))
    assert [r.subject for r in later] == ["f2", "f3"]
    assert len(records.results("m", limit=2)) == 2
    assert records.results("none") == []


def test_alerts_open_update_resolve(records: MonitoringRecords) -> None:
    assert records.open_alert("m", "drift:amount") is None
    alert = records.create_alert("m", "drift:amount", T0, 0.4, "amount drifted")
    assert (alert.delivery, alert.resolved_at, alert.value) == ("pending", None, 0.4)
    assert records.open_alert("m", "drift:amount") == alert
    records.update_alert(alert.id, last_seen_at=T0 + timedelta(minutes=5), value=0.5)
    records.update_alert(alert.id, delivery="sent: 200")
    seen = records.open_alert("m", "drift:amount")
    assert seen is not None and seen.last_seen_at == T0 + timedelta(minutes=5)
    assert seen.value == 0.5 and seen.delivery == "sent: 200" and seen.opened_at == T0
    records.update_alert(alert.id, resolved_at=T0 + timedelta(minutes=9))
    assert records.open_alert("m", "drift:amount") is None
    second = records.create_alert("m", "drift:amount", T0 + timedelta(minutes=10), None, "again")
    other = records.create_alert("n", "quality:f1", T0, 0.7, "f1 dropped")
    assert [a.id for a in records.alerts()] == [other.id, second.id, alert.id]  # newest first
    assert [a.id for a in records.alerts("m")] == [second.id, alert.id]
    assert [a.id for a in records.alerts(limit=1)] == [other.id]
    resolved = next(a for a in records.alerts("m") if a.id == alert.id)
    assert resolved.resolved_at == T0 + timedelta(minutes=9)
    with pytest.raises(NotFoundError):
        records.update_alert(10_000_000, delivery="x")


def test_open_alert_counts_count_unresolved_alerts_per_monitor(records: MonitoringRecords) -> None:
    assert records.open_alert_counts() == {}
    for key in ("a", "b", "c"):
        records.create_alert("busy", key, T0, 1.0, "x")
    records.create_alert("quiet", "a", T0, 1.0, "x")
    closed = records.create_alert("done", "a", T0, 1.0, "x")
    records.update_alert(closed.id, resolved_at=T0 + timedelta(minutes=1))
    assert records.open_alert_counts() == {"busy": 3, "quiet": 1}
    assert records.open_alert_counts(limit=1) == {"busy": 3}  # the monitors with the most first
    resolved = records.alerts("busy")[0]
    records.update_alert(resolved.id, resolved_at=T0 + timedelta(minutes=2))
    assert records.open_alert_counts()["busy"] == 2
