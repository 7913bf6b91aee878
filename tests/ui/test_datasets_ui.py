"""The dataset pages: list, a dataset's versions, schema with column tags, statistics, a bounded
preview, lineage (run -> dataset -> model), links from the run and model pages; escaping; and in
headless Chromium when it is installed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from shipyard.core.clock import utcnow
from shipyard.data.service import DatasetService
from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store
from shipyard.tracking.client import TrackingClient
from tests.ui.conftest import UiApp, build_ui_app
from tests.ui.live import LiveServer
from tests.ui.seed import XSS


@pytest.fixture(scope="module")
def data_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UiApp, str]]:
    built = build_ui_app(tmp_path_factory.mktemp("ui-data"))
    stores = built.seeded.stores
    service = DatasetService(stores)
    frame = pd.DataFrame({"amount": [1.5, 2.5, 99.0], "email": ["a@x", XSS, None]})
    service.snapshot("transactions", frame, description=XSS, column_tags={"email": ["pii"]})
    run = TrackingClient(stores).create_run("train-on-tx")
    v2 = service.snapshot("transactions", frame.head(2)).version
    service.record_use(v2, run.id, None, "input")
    service.set_alias("transactions", "training", 2)
    open_registry_store(stores.metadata).create_version(
        ModelVersionCreate("fraud", "a" * 64, 1, "sklearn", "alice", utcnow(), run_id=run.id)
    )
    yield built, run.id
    stores.close()


@pytest.fixture(scope="module")
def live(data_app: tuple[UiApp, str]) -> Iterator[LiveServer]:
    with LiveServer(data_app[0].app) as server:
        yield server


def test_the_dataset_pages_show_versions_schema_stats_preview_and_lineage(
    live: LiveServer, data_app: tuple[UiApp, str]
) -> None:
    ui, run_id = data_app
    listed = live.get("/ui/datasets", ui.reader_token)
    assert listed.status == 200 and "transactions" in listed.text and "@training" in listed.text
    page = live.get("/ui/datasets/transactions", ui.reader_token)
    assert page.status == 200
    html = page.text
    assert "v2" in html and "v1" in html and "pii" not in html  # tags belong to a version: v1's
    assert run_id[:12] in html and "fraud v1" in html  # read by the run that made model fraud v1
    first = live.get("/ui/datasets/transactions?version=1", ui.reader_token).text
    assert "pii" in first and "99" in first  # the column's tag, the preview and the max statistic
    assert XSS not in first and "&lt;script&gt;" in first  # description and cells are escaped
    assert live.get("/ui/datasets/transactions?version=9", ui.reader_token).status == 404
    assert live.get("/ui/datasets/ghost", ui.reader_token).status == 404
    assert live.get("/ui/datasets/transactions?version=x", ui.reader_token).status == 400
    run_page = live.get(f"/ui/runs/{run_id}", ui.reader_token).text
    assert "transactions v2" in run_page
    model_page = live.get("/ui/models/fraud/versions/1", ui.reader_token).text
    assert "Trained on datasets" in model_page and "transactions v2" in model_page


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from tests.services import require
    from tests.ui.test_browser import CHROMIUM, LAUNCH_ARGS, _browser_available

    require(
        _browser_available(), f"{CHROMIUM} or the playwright package is missing (scripts/install-browser.sh)"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield launched
        launched.close()


def test_the_dataset_page_in_chromium(chromium: Any, live: LiveServer, data_app: tuple[UiApp, str]) -> None:
    from tests.ui.test_browser import SHOTS, Watch

    browser = chromium

    ui, _ = data_app
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live.url)
    context.add_cookies([{"name": "shipyard_token", "value": ui.token, "url": live.url}])
    page = context.new_page()
    watch = Watch(page)
    page.goto("/ui/datasets")
    page.click("text=transactions")
    page.wait_for_url("**/ui/datasets/transactions")
    assert page.locator("#versions-table tbody tr").count() == 2
    page.click("#versions-table >> text=v1")
    page.wait_for_url("**version=1")
    assert page.locator("#preview tbody tr").count() == 3
    assert "pii" in page.locator("#schema").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "datasets-page.png"), full_page=True)
    context.close()
    assert watch.problems == []
