"""Deployment drift against a stored reference, monitors, de-duplicated alerts, webhook safety."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from shipyard.monitoring import webhook
from shipyard.monitoring.monitors import run_monitor, validate_spec
from shipyard.monitoring.profile import build_profile
from shipyard.monitoring.service import deployment_drift
from shipyard.monitoring.store import MonitoringStore
from shipyard.monitoring.windows import Window
from shipyard.tracking.stores import Stores, open_stores
from tests.monitoring.logutil import write_log

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sql", "server"])
def stores(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stores]:
    """Monitoring on the SQL metadata store, and the same through a shipyard server (REST)."""
    if request.param == "sql":
        s = open_stores()
        yield s
        s.close()
        return
    from shipyard.core.settings import load_settings
    from tests.server.live import live_server

    with live_server(tmp_path / "server") as server:
        monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
        s = open_stores(load_settings(home=tmp_path / "client", uri=server.url))
        yield s
        s.close()


def _reference(stores: Stores, rows: int = 3000) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(5, 2, size=rows),
            "color": rng.choice(["red", "blue"], rows),
            "prediction": rng.integers(0, 2, rows),
        }
    )
    MonitoringStore(stores).save_profile("m", 1, build_profile(frame, model="m"))


def _traffic(log_dir: Path, start: datetime, n: int, shift: float) -> list[str]:
    rng = np.random.default_rng(int(shift * 10) + n)
    ts = [start + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 3000, n))]
    feats = {"a": rng.normal(shift, 1, n), "b": rng.normal(5, 2, n), "color": rng.choice(["red", "blue"], n)}
    return write_log(log_dir, "dep", ts, feats, rng.integers(0, 2, n).tolist())


def test_deployment_drift_flags_the_shifted_feature(stores: Stores, tmp_path: Path) -> None:
    _reference(stores)
    _traffic(tmp_path, T0, 2000, shift=1.0)
    outcome = deployment_drift(stores, "dep", Window(T0, T0 + timedelta(hours=1)), log_dir=str(tmp_path))
    assert outcome.report is not None and (outcome.model, outcome.version) == ("m", 1)
    by_name = {f.feature: f for f in outcome.report.features}
    assert by_name["a"].drift and by_name["a"].method == "wasserstein"
    assert not by_name["b"].drift and by_name["color"].method == "jensenshannon"
    assert outcome.report.prediction is not None
    overridden = deployment_drift(
        stores,
        "dep",
        Window(T0, T0 + timedelta(hours=1)),
        log_dir=str(tmp_path),
        overrides={"a": ("ks", 0.01)},
    )
    assert overridden.report is not None and overridden.report.features[0].method == "ks"


def test_empty_window_missing_feature_foreign_schema_and_no_profile(stores: Stores, tmp_path: Path) -> None:
    _reference(stores)
    empty = deployment_drift(stores, "dep", Window(T0, T0 + timedelta(hours=1)), log_dir=str(tmp_path))
    assert empty.report is None and "no data" in empty.note
    write_log(tmp_path, "dep", [T0, T0], {"a": [0.1, 0.2], "color": ["red", "red"]}, [0, 1])
    partial = deployment_drift(stores, "dep", Window(T0, T0 + timedelta(hours=1)), log_dir=str(tmp_path))
    assert partial.report is not None and partial.report.missing_features == ["b"]
    write_log(tmp_path, "other", [T0], {"zz": [1.0]}, [0])
    with pytest.raises(InvalidInputError, match="another model's schema"):
        deployment_drift(stores, "other", Window(T0, T0 + timedelta(hours=1)), log_dir=str(tmp_path))
    write_log(tmp_path, "new", [T0], {"a": [1.0]}, [0], model="fresh", version=3)
    with pytest.raises(NotFoundError, match="no reference profile"):
        deployment_drift(stores, "new", Window(T0, T0 + timedelta(hours=1)), log_dir=str(tmp_path))


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    redirect_to: str | None = None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/redirect" and self.redirect_to:
            self.send_response(307)
            self.send_header("Location", self.redirect_to)
            self.end_headers()
            return
        type(self).received.append({"path": self.path, **json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "redirect_to": None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_alerts_fire_once_per_ongoing_breach_and_resolve(
    stores: Stores, tmp_path: Path, hook: tuple[str, type[_Hook]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = hook
    monkeypatch.setenv("SHIPYARD_WEBHOOK_ALLOWLIST", "127.0.0.1")
    _reference(stores)
    spec = validate_spec(
        {
            "name": "health",
            "deployment": "dep",
            "window": "1h",
            "checks": {"drift": {"max_share": 0.9}, "volume": {"min": 10}},
            "webhook": f"{url}/alerts",
        }
    )
    MonitoringStore(stores).put_monitor("health", "dep", spec)
    _traffic(tmp_path, T0, 1500, shift=1.0)
    first = run_monitor(stores, "health", now=T0 + timedelta(hours=1), log_dir=str(tmp_path))
    assert [a.key for a in first.opened] == ["drift:a"]
    assert [r["key"] for r in handler.received] == ["drift:a"]
    second = run_monitor(stores, "health", now=T0 + timedelta(hours=1, minutes=5), log_dir=str(tmp_path))
    assert second.opened == [] and second.ongoing == ["drift:a"]
    assert len(handler.received) == 1  # the same ongoing breach does not alert again
    _traffic(tmp_path, T0 + timedelta(hours=2), 1500, shift=0.0)
    third = run_monitor(stores, "health", now=T0 + timedelta(hours=3), log_dir=str(tmp_path))
    assert third.resolved == ["drift:a"] and third.opened == []
    alerts = MonitoringStore(stores).alerts("health")
    assert len(alerts) == 1 and alerts[0].resolved_at is not None and alerts[0].delivery.startswith("sent")
    series = MonitoringStore(stores).results("health")
    assert {r.subject for r in series} >= {"a", "b", "color", "dataset", "predictions"}
    assert len({r.at for r in series}) == 3  # one point per run: a time series
    fourth = run_monitor(stores, "health", now=T0 + timedelta(hours=9), log_dir=str(tmp_path))  # empty
    assert [a.key for a in fourth.opened] == ["volume:predictions"] and fourth.notes


def test_webhook_allow_list_schemes_and_redirects(hook: tuple[str, type[_Hook]]) -> None:
    url, handler = hook
    with pytest.raises(PermissionDeniedError, match="allow-list"):
        webhook.send(f"{url}/x", {"a": 1}, allowed=["hooks.example.com"])
    with pytest.raises(InvalidInputError, match="http"):
        webhook.check_url("ftp://127.0.0.1/x", ["127.0.0.1"])
    with pytest.raises(InvalidInputError, match="credentials"):
        webhook.check_url("http://u:p@127.0.0.1/x", ["127.0.0.1"])
    handler.redirect_to = f"{url}/stolen"
    result = webhook.send(f"{url}/redirect", {"a": 1}, allowed=["127.0.0.1"])
    assert result.startswith("failed: refused redirect (307)")
    assert handler.received == []  # the redirect target was never called
    assert webhook.send(f"{url}/ok", {"a": 1}, allowed=["127.0.0.1"]) == "sent (200)"
    port = url.rsplit(":", 1)[1]
    assert webhook.check_url(f"{url}/ok", [f"127.0.0.1:{port}"])


def test_spec_validation_names_the_problem() -> None:
    base = {"name": "m1", "deployment": "d", "checks": {"drift": {}}}
    assert validate_spec(base)["window"] == "1h"
    for bad, match in [
        ({"name": "bad name!"}, "monitor name"),
        ({"checks": {}}, "at least one"),
        ({"checks": {"vibes": {}}}, "unknown check"),
        ({"checks": {"quality": {"metric": "f1"}}}, "exactly one of min/max"),
        ({"window": "3y"}, "window"),
        ({"log_dir": "/etc"}, "cannot set log_dir"),
        ({"deployment": "../x"}, "deployment"),
        ({"extra": 1}, "unknown key"),
        ({"checks": ["drift"]}, "at least one"),
        ({"checks": {"quality": True}}, "quality check"),
        ({"checks": {"drift": {"features": {"a": "psi"}}}}, "features maps"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            validate_spec({**base, **bad})


def test_scheduler_runs_each_monitor_when_due_and_survives_failures(stores: Stores, tmp_path: Path) -> None:
    from shipyard.monitoring.scheduler import MonitorScheduler

    _reference(stores)
    _traffic(tmp_path, T0, 200, shift=0.0)
    store = MonitoringStore(stores)
    base = {"deployment": "dep", "window": "1h", "checks": {"volume": {"min": 1}}}
    store.put_monitor("fast", "dep", validate_spec({**base, "name": "fast", "every": "1m"}))
    store.put_monitor("slow", "dep", validate_spec({**base, "name": "slow", "every": "1h"}))
    broken = validate_spec({**base, "name": "broken", "every": "1m"})
    with pytest.raises(InvalidInputError, match="window"):  # the store checks what it is given
        store.put_monitor("broken", "dep", {**broken, "window": "not-a-window"})
    write_log(tmp_path, "ghost", [T0], {"a": [1.0]}, [0], model="ghost")  # no reference profile
    store.put_monitor("broken", "ghost", {**broken, "deployment": "ghost", "checks": {"drift": {}}})
    seen: list[str] = []
    failed: list[tuple[str, str]] = []
    scheduler = MonitorScheduler(
        stores,
        log_dir=str(tmp_path),
        on_run=lambda r: seen.append(r.monitor),
        on_error=lambda name, exc: failed.append((name, type(exc).__name__)),
    )
    now = T0 + timedelta(hours=1)
    assert sorted(r.monitor for r in scheduler.run_due(clock=0.0, now=now)) == ["fast", "slow"]
    assert scheduler.run_due(clock=30.0, now=now) == []
    assert [r.monitor for r in scheduler.run_due(clock=61.0, now=now)] == ["fast"]
    assert seen == ["fast", "slow", "fast"]  # "broken" failed (logged) without stopping the others
    assert [name for name, _ in failed] == ["broken", "broken"]  # handed to on_error (the server counts it)


def test_a_day_window_counts_the_whole_day_and_p_value_alerts_say_so(stores: Stores, tmp_path: Path) -> None:
    MonitoringStore(stores).save_profile("m", 1, build_profile(pd.DataFrame({"a": np.arange(500.0)})))
    write_log(tmp_path, "small", [T0] * 300, {"a": np.arange(300.0) + 400}, [0] * 300)
    spec = {"name": "daily", "deployment": "small", "window": "1d",
            "checks": {"volume": {"min": 300}, "drift": {"max_share": 2}}}  # fmt: skip
    MonitoringStore(stores).put_monitor("daily", "small", validate_spec(spec))
    run = run_monitor(stores, "daily", now=T0 + timedelta(hours=13), log_dir=str(tmp_path))  # mid-day start
    volume = next(r for r in run.results if r.check == "volume")
    assert volume.value == 300 and not volume.breached
    (alert,) = run.opened
    assert alert.key == "drift:a" and "ks p-value" in alert.message  # 500 reference rows: KS


@pytest.mark.parametrize("stores", ["sql"], indirect=True)  # it starts a server over these stores
def test_the_server_runs_declared_monitors_when_asked(stores: Stores, tmp_path: Path) -> None:
    """`shipyard server --monitors`: the app's lifespan runs the scheduler and stores results."""
    import asyncio

    from shipyard.server.app import ServerConfig, create_app

    _reference(stores)
    _traffic(stores.settings.home / "predictions", datetime.now(UTC) - timedelta(minutes=50), 50, shift=0.0)
    store = MonitoringStore(stores)
    spec = {"deployment": "dep", "window": "1h", "checks": {"volume": {"min": 1}}}
    store.put_monitor("hourly", "dep", validate_spec({**spec, "name": "hourly", "every": "1h"}))

    async def serve_for(app: Any, until: float) -> None:
        async with app.router.lifespan_context(app):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + until
            while not store.results("hourly") and loop.time() < deadline:
                await asyncio.sleep(0.05)

    app = create_app(stores.settings, stores, config=ServerConfig(monitor_tick_s=0.05))
    asyncio.run(serve_for(app, 30))
    assert store.results("hourly"), "the server's scheduler never ran the monitor"
    registry = app.state.ctx.metrics.registry  # /metrics counts the scheduler's runs
    labels = {"source": "scheduler", "outcome": "ok"}
    assert registry.get_sample_value("shipyard_monitor_runs_total", labels) == 1
    asyncio.run(serve_for(create_app(stores.settings, stores), 0.3))  # without --monitors: nothing runs
    assert len(store.results("hourly")) == 1
