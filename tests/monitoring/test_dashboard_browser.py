"""The monitoring dashboard in headless Chromium: charts drawn, drift table and alerts shown, no CSP
or script errors. Also the static HTML report (``shipyard monitor report --html``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.monitoring.monitors import run_monitor, validate_spec
from shipyard.monitoring.profile import build_profile
from shipyard.monitoring.store import MonitoringStore
from shipyard.tracking.stores import Stores, open_stores
from tests.monitoring.logutil import write_log
from tests.ui.conftest import make_token
from tests.ui.live import LiveServer
from tests.ui.test_browser import BLUE, Watch, browser, coloured  # noqa: F401 (fixture)


def _seed(stores: Stores, log_dir: Path) -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame(
        {
            "amount": rng.normal(50, 10, 5000),
            "age": rng.normal(40, 8, 5000),
            "prediction": rng.integers(0, 2, 5000),
        }
    )
    MonitoringStore(stores).save_profile("fraud", 1, build_profile(ref))
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for hour in range(6, 0, -1):
        n = 300
        ts = [
            now - timedelta(hours=hour) + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 3500, n))
        ]
        shift = 0.0 if hour > 3 else 15.0
        feats = {"amount": rng.normal(50 + shift, 10, n), "age": rng.normal(40, 8, n)}
        y = rng.integers(0, 2, n)
        pred = np.where(rng.uniform(size=n) < 0.8, y, 1 - y)
        ids = write_log(log_dir, "fraud", ts, feats, pred.tolist(), model="fraud", version=1)
        from shipyard.monitoring.logs import log_labels

        log_labels(ids, y.tolist(), deployment="fraud", log_dir=str(log_dir))
    spec = validate_spec(
        {
            "name": "fraud-drift",
            "deployment": "fraud",
            "window": "2h",
            "checks": {"drift": {"max_share": 0.9}},
        }
    )
    MonitoringStore(stores).put_monitor("fraud-drift", "fraud", spec)
    run_monitor(stores, "fraud-drift", log_dir=str(log_dir))


@pytest.fixture
def dashboard_server(tmp_path: Path) -> Iterator[tuple[LiveServer, str, Stores]]:
    from shipyard.metadata.security import open_security_store
    from shipyard.server import create_app

    stores = open_stores()
    _seed(stores, stores.settings.home / "predictions")
    security = open_security_store(stores.metadata)
    token = make_token(security, "mona", "reader")
    with LiveServer(create_app(stores.settings, stores, security=security)) as server:
        yield server, token, stores
    stores.close()


def test_dashboard_draws_charts_and_lists_drift_and_alerts(browser: Any, dashboard_server: Any) -> None:  # noqa: F811
    live, token, _ = dashboard_server
    context = browser.new_context(viewport={"width": 1360, "height": 1400}, base_url=live.url)
    context.add_cookies([{"name": "shipyard_token", "value": token, "url": live.url}])
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch = Watch(page)
    page.goto("/ui/monitoring")
    page.click("text=fraud")
    page.wait_for_selector("figure[data-chart][data-rendered]")
    titles = page.locator("figure[data-chart] figcaption").all_inner_texts()
    assert titles == [
        "drift score per feature",
        "f1 per window",
        "predictions per window",
        "mean latency (ms)",
    ]
    drift_chart = page.locator("figure[data-chart]").first
    assert coloured(page, drift_chart, BLUE) > 50  # the first series' line is drawn
    table = page.locator("#drift-table").inner_text()
    assert "amount" in table and "drift" in table
    assert "drift:amount" in page.locator("#alerts").inner_text()
    context.close()
    assert watch.problems == []


def test_static_html_report_is_self_contained(dashboard_server: Any, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shipyard.cli.main import build_app

    _, _, stores = dashboard_server
    out = tmp_path / "report.html"
    log_dir = str(stores.settings.home / "predictions")
    result = CliRunner().invoke(
        build_app(), ["monitor", "report", "fraud", "--html", str(out), "--log-dir", log_dir]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "<svg" in text and "amount" in text and "f1 per window" in text
    assert "<script" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    drift = CliRunner().invoke(
        build_app(), ["monitor", "drift", "fraud", "--window", "1d", "--log-dir", log_dir, "--json"]
    )
    assert drift.exit_code == 0 and '"dataset_drift"' in drift.output
