"""The monitoring dashboard in headless Chromium: the drift heatmap (worst feature first; a cell opens
that feature's distributions, reference against the window), charts over time drawn, drift table and
alerts shown, no CSP or script errors. Also the static HTML report (``shipyard monitor report --html``)."""

from __future__ import annotations

import re
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
    assert titles == ["f1 per window", "predictions per window", "mean latency (ms)"]
    volume = page.locator("figure[data-chart]").nth(1)
    assert coloured(page, volume, BLUE) > 50  # the series' line is drawn
    # time on the x axis: hovering names the window's start time (not "hours into the window")
    box = volume.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    volume.locator(".chart-tip").wait_for(state="visible")
    tip = volume.locator(".chart-tip .tip-head").inner_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:00 UTC", tip), tip
    # drift: a heatmap, the drifting feature first; amount drifted in the last 3 hours, age never
    heatmap = page.locator("#drift-heatmap")
    assert heatmap.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.feature)") == [
        "amount",
        "age",
    ]
    amount, age = heatmap.locator("tr[data-feature='amount']"), heatmap.locator("tr[data-feature='age']")
    amount_levels = amount.locator("a[data-level]").evaluate_all("as => as.map(a => +a.dataset.level)")
    age_levels = age.locator("a[data-level]").evaluate_all("as => as.map(a => +a.dataset.level)")
    assert len(amount_levels) == len(age_levels) == 6  # six hours with predictions
    # (age's 300-row windows may cross the Wasserstein threshold by chance: level 4; never level 5)
    assert sorted(amount_levels)[-3:] == [5, 5, 5] and max(age_levels) < 5
    assert amount.locator("td.hm-none").count() >= 1  # windows without predictions
    shot_dir = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
    shot_dir.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot_dir / "20-monitoring-heatmap.png"), full_page=True)
    # clicking a drifted cell shows amount's distributions: this window's mass sits to the right
    amount.locator("a[data-level='5']").last.click()
    page.wait_for_selector("#distribution")
    assert page.locator("#drift-heatmap td.selected").count() == 1
    assert "amount" in page.locator("#distribution h2").inner_text()
    mean_bin = """(cls) => {
      const bins = [...document.querySelectorAll('#distribution g.dist-bin')];
      let total = 0, weighted = 0;
      bins.forEach((g, i) => { const h = +g.querySelector('rect.' + cls).getAttribute('height');
                               total += h; weighted += h * i; });
      return weighted / total;
    }"""
    ref_mean, cur_mean = page.evaluate(mean_bin, "ref"), page.evaluate(mean_bin, "cur")
    assert cur_mean > ref_mean + 5, (ref_mean, cur_mean)  # shifted by 1.5 sd of 32 bins over ~6.6 sd
    page.screenshot(path=str(shot_dir / "21-monitoring-distribution.png"), full_page=True)
    # ... and an age cell: the two distributions agree
    page.locator("#drift-heatmap tr[data-feature='age'] a[data-level]").last.click()
    page.wait_for_selector("#distribution h2:has-text('age')")
    assert abs(page.evaluate(mean_bin, "cur") - page.evaluate(mean_bin, "ref")) < 2
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
