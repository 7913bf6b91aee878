"""The environment pages over HTTP and in Chromium: environments with a release, one environment
(its deployments, releases, lock) and one release's diff and verdicts; deploy:plan decides."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shipyard.deploy.apply import apply
from tests.deploy.delivery_world import SPEC, open_world, spec_of
from tests.ui.conftest import UiApp, build_ui_app, make_token
from tests.ui.live import LiveServer
from tests.ui.test_browser import browser  # noqa: F401 - the module's Chromium


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UiApp, LiveServer, str]]:
    built = build_ui_app(tmp_path_factory.mktemp("deploy-ui"))
    world = open_world(built.seeded.stores.metadata)
    world.alias("candidate", world.register(approved=True))
    world.secret("db", "staging")
    apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    changed = SPEC.replace("replicas: 1", "replicas: 4").replace("output: scores/", "output: <b>out</b>/")
    apply(spec_of(changed), "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    from shipyard.metadata.delivery import SyncReport

    drifted = SyncReport(
        status="out-of-sync",
        reason="1 object(s) differ from git: <b>applied by hand</b>",
        repo="/srv/git/fraud",
        branch="main",
        revision="c" * 40,
        synced_revision="c" * 40,
        release=2,
        drift=({"action": "update", "kind": "service", "name": "api"},),
        drifted=1,
    )
    world.delivery.record_sync("fraud", "staging", drifted, by="sync-bot")
    refused = SyncReport(
        status="degraded", reason="refused: model fraud v1 is not approved", revision="c" * 40
    )
    world.delivery.record_sync("fraud", "production", refused, by="sync-bot")  # never applied: sync only
    from shipyard.metadata.security import open_security_store

    nobody = make_token(open_security_store(built.seeded.stores.metadata), "nora", "none")
    with LiveServer(built.app) as server:
        yield built, server, nobody
    built.seeded.stores.close()


def test_environment_and_release_pages(delivered: tuple[UiApp, LiveServer, str]) -> None:
    ui, live, nobody = delivered
    listing = live.get("/ui/environments", ui.reader_token)
    assert listing.status == 200 and 'href="/ui/environments/fraud/staging"' in listing.text
    assert 'href="/ui/environments/fraud/production"' in listing.text  # a sync status, no release
    assert 'class="badge s-degraded"' in listing.text and 'class="badge s-out-of-sync"' in listing.text
    page = live.get("/ui/environments/fraud/staging", ui.reader_token)
    assert page.status == 200
    assert "&lt;b&gt;applied by hand&lt;/b&gt;" in page.text and "<b>applied by hand" not in page.text
    assert 'id="sync-drift"' in page.text and "c" * 40 in page.text
    assert "models:/fraud/1" in page.text and 'href="/ui/environments/fraud/staging/releases/2"' in page.text
    release = live.get("/ui/environments/fraud/staging/releases/2", ui.reader_token)
    assert release.status == 200
    assert (
        "replicas" in release.text
        and "&lt;b&gt;out&lt;/b&gt;/" in release.text
        and "<b>out</b>" not in release.text
    )
    assert live.get("/ui/environments/fraud/staging/releases/9", ui.reader_token).status == 404
    assert live.get("/ui/environments").status == 401
    assert live.get("/ui/environments/fraud/staging", nobody).status == 403


def test_open_a_release_in_the_browser(delivered: tuple[UiApp, LiveServer, str], browser: Any) -> None:  # noqa: F811
    ui, live, _ = delivered
    context = browser.new_context(base_url=live.url)
    context.add_cookies([{"name": "shipyard_token", "value": ui.token, "url": live.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/ui/runs")
    page.click("nav >> text=Environments")
    page.wait_for_selector("#environments-table")
    assert page.inner_text("#environments-table tbody tr:nth-child(1)").split()[:3] == [
        "fraud",
        "production",
        "degraded",
    ]
    page.click("#environments-table >> text=staging")
    page.wait_for_selector("#environment-deployments")
    assert "out-of-sync" in page.inner_text("#environment-sync h2")
    assert page.locator("#sync-drift tbody tr").count() == 1
    assert "applied by hand" in page.inner_text("#sync-reason")
    assert page.locator("#environment-deployments tbody tr").count() == 2  # api, nightly
    assert page.locator("#environment-releases tbody tr").count() == 2
    page.click("#environment-releases >> text=#2")
    page.wait_for_selector("#release-diff")
    diff = page.inner_text("#release-diff")
    assert "replicas" in diff and "4" in diff and "service api" in diff
    context.close()
    assert errors == []
