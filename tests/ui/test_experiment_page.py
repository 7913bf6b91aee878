"""The experiment page over HTTP and in Chromium: an experiment of an environment with its
decision, sample-ratio check and per-window charts of both arms; deploy:plan decides."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from shipyard.deploy import experiments as ex
from shipyard.experiments.config import ExperimentSpec
from shipyard.monitoring.logs import log_labels
from tests.experiments.logs import write_log
from tests.ui.conftest import UiApp, build_ui_app, make_token
from tests.ui.live import LiveServer
from tests.ui.test_browser import BLUE, RED, browser, coloured  # noqa: F401 - the module's Chromium


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UiApp, LiveServer, str]]:
    built = build_ui_app(tmp_path_factory.mktemp("experiment-ui"))
    stores = built.seeded.stores
    spec = ExperimentSpec(
        deployment="api", environment="staging", challenger="models:/fraud/2", share=50, min_samples=200
    )
    ex.start(ex.stores_delivery(stores), "fraud", "v2-<b>", spec, user="alice")
    rng = np.random.default_rng(4)
    n = 3000
    now = datetime.now(UTC)
    ts = int((now - timedelta(hours=6)).timestamp() * 1e6) + np.sort(rng.integers(0, 6 * 3600 * 10**6, n))
    arm = rng.integers(0, 2, n)
    label = rng.integers(0, 2, n)
    correct = rng.random(n) < np.where(arm == 1, 0.9, 0.7)
    log_dir = stores.settings.home / "predictions"
    ids = write_log(
        log_dir,
        "api",
        ts_us=ts,
        arm=arm,
        prediction=np.where(correct, label, 1 - label),
        latency_ms=np.ones(n),
    )
    log_labels(ids, label.tolist(), deployment="api", log_dir=str(log_dir))
    from shipyard.metadata.security import open_security_store

    nobody = make_token(open_security_store(stores.metadata), "nora", "none")
    with LiveServer(built.app) as server:
        yield built, server, nobody
    stores.close()


def test_experiment_page(running: tuple[UiApp, LiveServer, str]) -> None:
    ui, live, nobody = running
    env = live.get("/ui/environments/fraud/staging", ui.reader_token)
    assert 'href="/ui/environments/fraud/staging/experiments/v2-%3Cb%3E"' in env.text
    page = live.get("/ui/environments/fraud/staging/experiments/v2-%3Cb%3E", ui.reader_token)
    assert page.status == 200, page.text
    assert '<td id="decision">better</td>' in page.text
    assert "v2-&lt;b&gt;" in page.text and "v2-<b>" not in page.text
    assert page.text.count("data-chart") == 2  # accuracy: both arms per window, and the difference
    assert live.get("/ui/environments/fraud/staging/experiments/nope", ui.reader_token).status == 404
    assert live.get("/ui/environments/fraud/staging/experiments/v2-%3Cb%3E").status == 401
    assert live.get("/ui/environments/fraud/staging/experiments/v2-%3Cb%3E", nobody).status == 403


def test_experiment_charts_in_the_browser(running: tuple[UiApp, LiveServer, str], browser: Any) -> None:  # noqa: F811
    ui, live, _ = running
    context = browser.new_context(base_url=live.url)
    context.add_cookies([{"name": "shipyard_token", "value": ui.token, "url": live.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/ui/environments/fraud/staging")
    page.click("#environment-objects >> text=v2-<b>")
    page.wait_for_selector("figure[data-chart][data-rendered]")
    assert page.inner_text("#decision") == "better"
    means = page.locator("figure[data-chart]").first
    assert coloured(page, means, BLUE) > 100 and coloured(page, means, RED) > 100  # both arms drawn
    assert page.locator("table.metric-windows tbody tr").count() >= 6
    context.close()
    assert errors == []
