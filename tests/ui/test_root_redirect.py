"""The server's ``/``: a browser lands on the web UI (Chromium), an API client gets JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipyard.server.ui.session import prefers_html
from tests.ui.conftest import UiApp
from tests.ui.live import LiveServer
from tests.ui.test_browser import Watch, browser  # noqa: F401 (fixture)

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0.9, application/json", False),
        ("text/html, application/json", False),  # a tie: JSON, as an API client asked for both
        ("text/html;q=0", False),
        ("text/html;q=bogus", False),
        ("text/html, */*;q=0.1", True),
    ],
)
def test_accept_header_preference(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


def test_api_clients_get_json_at_the_root(live: LiveServer) -> None:
    for headers in ({}, {"Accept": "*/*"}, {"Accept": "application/json"}):
        reply = live.request("GET", "/", headers)
        assert reply.status == 200, reply.text
        assert reply.headers["content-type"].startswith("application/json")
        assert json.loads(reply.text) == {
            "service": "shipyard",
            "api": "/api/v1",
            "ui": "/ui",
            "openapi": "/openapi.json",
        }
        assert reply.headers["vary"] == "Accept"
    html = live.request("GET", "/", {"Accept": BROWSER_ACCEPT})
    assert html.status == 303 and html.headers["location"] == "/ui"


def test_a_browser_opening_the_root_lands_on_the_ui(browser: Any, live: LiveServer, ui_app: UiApp) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live.url)
    page = context.new_page()
    watch = Watch(page)
    page.goto("/")  # signed out: the login page
    page.wait_for_url("**/ui/login")
    assert page.locator("#login-form").count() == 1
    context.add_cookies([{"name": "shipyard_token", "value": ui_app.token, "url": live.url}])
    page.goto("/")  # signed in: the runs list
    page.wait_for_url("**/ui/runs")
    assert page.locator("#runs-table").count() == 1
    context.close()
    assert watch.problems == []
