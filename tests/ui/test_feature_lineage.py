"""A feature view's lineage in the web UI: the training sets logged from it (newest first, a page
at a time), the runs that built and read them and the model versions registered from those runs;
the model version's page links back to the view. Private projects stay hidden; over HTTP and in
Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from shipyard.core.clock import utcnow
from shipyard.data.service import DatasetService
from shipyard.features.training import describe
from shipyard.metadata.features import open_feature_records
from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store
from shipyard.metadata.security import Project, open_security_store
from shipyard.tracking.client import TrackingClient
from tests.ui.conftest import UiApp, build_ui_app
from tests.ui.live import LiveServer
from tests.ui.test_browser import browser  # noqa: F401 - the module's Chromium
from tests.ui.test_feature_pages import SPEC

MARK = datetime(2026, 3, 1, 12, tzinfo=UTC)
SETS = 12  # more than one page (10)


def _lineage(view: str, version: int) -> str:
    entry = {"name": view, "version": version, "spec_sha256": "0" * 64, "source": SPEC["source"]}
    lineage = {"features": [f"{view}:amount_7d"], "views": [{**entry, "features": ["amount_7d"]}]}
    return describe([entry], lineage)


@pytest.fixture(scope="module")
def lineage_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UiApp, LiveServer, str, str]]:
    built = build_ui_app(tmp_path_factory.mktemp("feature-lineage"))
    stores = built.seeded.stores
    records = open_feature_records(stores.metadata)
    records.apply_view("spending", SPEC, project=None, by="alice", at=MARK)
    open_security_store(stores.metadata).create_project(Project("vault", True, MARK, "test"))
    service = DatasetService(stores)
    client = TrackingClient(stores)
    build = client.create_run("build-training-sets")
    frame = pd.DataFrame({"customer_id": [1, 2], "amount_7d": [1.0, 2.0]})
    for i in range(SETS):
        service.snapshot(f"train-set-{i:02d}", frame, description=_lineage("spending", 1), run_id=build.id)
    # the text alone (no lineage line) is no training set; a private project's set is hidden
    service.snapshot("look-alike", frame, description='"name":"spending","source": quoted in prose')
    service.snapshot("vault-set", frame, description=_lineage("spending", 1), project="vault")
    train = client.create_run("train-on-features")
    newest = service.resolve(f"train-set-{SETS - 1:02d}")
    service.record_use(newest, train.id, None, "input")
    open_registry_store(stores.metadata).create_version(
        ModelVersionCreate("churn-ff", "b" * 64, 1, "sklearn", "alice", utcnow(), run_id=train.id)
    )
    with LiveServer(built.app) as server:
        yield built, server, build.id, train.id
    stores.close()


def test_the_view_page_lists_its_training_sets_runs_and_models_paged(
    lineage_app: tuple[UiApp, LiveServer, str, str],
) -> None:
    ui, live, build_id, train_id = lineage_app
    first = live.get("/ui/features/spending", ui.reader_token)
    assert first.status == 200
    html = first.text
    shown = [f"train-set-{i:02d} v1" for i in range(SETS)]
    assert [s for s in shown if s in html] == shown[SETS - 10 :]  # the newest page
    assert html.index(shown[-1]) < html.index(shown[-2])  # newest first
    assert build_id[:12] in html and train_id[:12] in html
    assert 'href="/ui/models/churn-ff/versions/1"' in html
    assert "look-alike" not in html and "vault-set" not in html
    following = html.split('id="lineage-next"')[0].rsplit("offset=", 1)[1].split('"')[0]
    assert following == "11"  # the look-alike (newer) was passed over: the next page starts after
    second = live.get(f"/ui/features/spending?offset={following}", ui.reader_token).text
    assert [s for s in shown if s in second] == shown[:2] and 'id="lineage-next"' not in second
    admin = live.get("/ui/features/spending", ui.token).text
    assert "vault-set v1" in admin and "train-set-02 v1" not in admin  # the admin's first page has it
    back = live.get("/ui/models/churn-ff/versions/1", ui.reader_token).text
    assert 'href="/ui/features/spending"' in back and "spending v1" in back


def test_from_a_view_to_its_model_and_back_in_chromium(
    lineage_app: tuple[UiApp, LiveServer, str, str],
    browser: Any,  # noqa: F811
) -> None:
    ui, live, _, _ = lineage_app
    context = browser.new_context(base_url=live.url)
    context.add_cookies([{"name": "shipyard_token", "value": ui.token, "url": live.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/ui/features/spending")
    page.wait_for_selector("#feature-lineage")
    assert page.locator("#feature-lineage tbody tr").count() == 10
    page.click("#feature-lineage >> text=churn-ff v1")
    page.wait_for_url("**/ui/models/churn-ff/versions/1")
    page.click("#datasets >> a.feature-view")
    page.wait_for_url("**/ui/features/spending")
    page.click("#lineage-next")
    page.wait_for_url("**offset=*")
    assert (
        page.locator("#feature-lineage tbody tr").count() == 3
    )  # the oldest three (the admin sees vault-set first)
    context.close()
    assert errors == []
