"""The feature pages over HTTP and in Chromium: the list, one view (spec, features, versions),
escaping, private projects, and the online freshness when the server knows the online store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shipyard.features.online.base import encode_key
from shipyard.features.online.sqlite import SqliteOnlineStore
from shipyard.metadata.features import open_feature_records
from tests.ui.conftest import UiApp, build_ui_app
from tests.ui.live import LiveServer
from tests.ui.test_browser import browser  # noqa: F401 - the module's Chromium

SPEC = {
    "name": "spending",
    "entity": {"name": "customer", "join_keys": ["customer_id"]},
    "source": {"kind": "file", "path": "data/tx/*.parquet", "format": "parquet"},
    "timestamp": "ts",
    "created_timestamp": None,
    "ttl": "30d",
    "features": {"amount_7d": "float64", "n_tx": "int64"},
    "sql": None,
    "transform": None,
    "description": "<b>spend</b> per customer",
}
MARK = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def featured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UiApp, LiveServer]]:
    folder = tmp_path_factory.mktemp("features-ui")
    online = folder / "online.db"
    built = build_ui_app(folder)
    built.seeded.stores.settings.online_store = f"sqlite:///{online}"
    store = SqliteOnlineStore(Path(online))
    store.write("spending", [(encode_key([1]), 1, {"amount_7d": 1.0})])
    store.set_watermark("spending", int(MARK.timestamp() * 1_000_000), 0)
    store.close()
    records = open_feature_records(built.seeded.stores.metadata)
    records.apply_view("spending", SPEC, project=None, by="alice", at=MARK)
    records.apply_view("spending", {**SPEC, "ttl": "7d"}, project=None, by="bob", at=MARK)
    records.apply_view("secret_view", {**SPEC, "name": "secret_view"}, project="vault", by="alice", at=MARK)
    from shipyard.metadata.security import Project, open_security_store

    open_security_store(built.seeded.stores.metadata).create_project(Project("vault", True, MARK, "test"))
    with LiveServer(built.app) as server:
        yield built, server
    built.seeded.stores.close()


def test_list_and_view_pages(featured: tuple[UiApp, LiveServer]) -> None:
    ui, live = featured
    listing = live.get("/ui/features", ui.reader_token)
    assert listing.status == 200
    assert 'href="/ui/features/spending"' in listing.text and "v2" in listing.text
    page = live.get("/ui/features/spending", ui.reader_token)
    assert page.status == 200
    assert "amount_7d" in page.text and "int64" in page.text and "data/tx/*.parquet" in page.text
    assert "&lt;b&gt;spend&lt;/b&gt;" in page.text and "<b>spend</b>" not in page.text
    assert "up to 2026-03-01" in page.text  # the online store's watermark
    assert live.get("/ui/features/nope", ui.reader_token).status == 404
    assert live.get("/ui/features").status == 401
    # a private project's view is invisible to outsiders, listed for an admin
    assert "secret_view" not in listing.text
    assert live.get("/ui/features/secret_view", ui.reader_token).status == 404
    assert "secret_view" in live.get("/ui/features", ui.token).text


def test_open_a_feature_view_in_the_browser(featured: tuple[UiApp, LiveServer], browser: Any) -> None:  # noqa: F811
    ui, live = featured
    context = browser.new_context(base_url=live.url)
    context.add_cookies([{"name": "shipyard_token", "value": ui.token, "url": live.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/ui/runs")
    page.click("nav >> text=Features")
    page.wait_for_selector("#features-table")
    page.click("#features-table >> text=spending")
    page.wait_for_selector("#feature-columns")
    assert page.locator("#feature-columns tbody tr").count() == 2
    assert page.locator("#feature-versions tbody tr").count() == 2
    assert "7d" in page.inner_text("#feature-spec")
    context.close()
    assert errors == []


def test_the_online_store_is_opened_once_for_all_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.features.online import registry

    opened: list[str] = []
    real = registry.open_online_store

    def counting(uri: str) -> Any:
        opened.append(uri)
        return real(uri)

    monkeypatch.setattr(registry, "open_online_store", counting)
    built = build_ui_app(tmp_path)
    built.seeded.stores.settings.online_store = f"sqlite:///{tmp_path / 'online.db'}"
    records = open_feature_records(built.seeded.stores.metadata)
    for name in ("one", "two"):
        records.apply_view(name, {**SPEC, "name": name}, project=None, by="alice", at=MARK)
    try:
        with LiveServer(built.app) as live:
            for name in ("one", "two", "one"):
                assert live.get(f"/ui/features/{name}", built.reader_token).status == 200
    finally:
        built.seeded.stores.close()
    assert len(opened) == 1
