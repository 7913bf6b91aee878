"""End to end in headless Chromium (Debian's, driven by Playwright): sign in, filter the runs list,
open a run and see its charts drawn, compare two runs, open a model. Screenshots of every page go to
``test-artifacts/screenshots/`` (kept by CI as artifacts)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import require
from tests.ui.conftest import UiApp
from tests.ui.live import LiveServer
from tests.ui.seed import XSS, notebook_task

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# counts a chart canvas's pixels close to one series colour (r, g, b)
COUNT_COLOURED = """([fig, rgb]) => {
  const canvas = fig.querySelector("canvas");
  if (!canvas) return -1;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 150 && Math.abs(data[i] - rgb[0]) < 40 && Math.abs(data[i + 1] - rgb[1]) < 40
        && Math.abs(data[i + 2] - rgb[2]) < 40) n++;
  }
  return n;
}"""
BLUE, RED = (37, 99, 235), (220, 38, 38)


def _browser_available() -> bool:
    if shutil.which(CHROMIUM) is None:
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(
        _browser_available(), f"{CHROMIUM} or the playwright package is missing (scripts/install-browser.sh)"
    )
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield launched
        launched.close()


class Watch:
    """Page errors, CSP violations and JS dialogs (an XSS would open one) seen while a test runs."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.on(
            "console",
            lambda msg: (
                self.problems.append(f"console: {msg.text}")
                if msg.type == "error" and "favicon" not in msg.text
                else None
            ),
        )


@pytest.fixture
def page(browser: Any, live: LiveServer, ui_app: UiApp) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live.url)
    context.add_cookies([{"name": "shipyard_token", "value": ui_app.token, "url": live.url}])
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    watch = Watch(tab)
    yield tab
    context.close()
    assert watch.problems == []


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def coloured(page: Any, figure: Any, rgb: tuple[int, int, int]) -> int:
    return int(page.evaluate(COUNT_COLOURED, [figure.element_handle(), list(rgb)]))


def test_sign_in_with_a_token(browser: Any, live: LiveServer, ui_app: UiApp) -> None:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live.url)
    page = context.new_page()
    watch = Watch(page)
    page.goto("/ui")
    assert page.url.endswith("/ui/login")
    page.fill("#token", "shp_wrong")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:not([hidden])")
    page.fill("#token", ui_app.token)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/ui/runs")
    cookie = next(c for c in context.cookies() if c["name"] == "shipyard_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # not readable from script
    shot(page, "01-runs-list")
    page.click("text=Sign out")
    page.wait_for_url("**/ui/login")
    assert [c for c in context.cookies() if c["name"] == "shipyard_token"] == []
    context.close()
    # the 401 of the wrong token is logged by the browser as a failed resource; nothing else
    assert all("401" in p for p in watch.problems), watch.problems


def test_filter_the_runs_list(page: Any) -> None:
    page.goto("/ui/runs")
    assert page.locator("#runs-table tbody tr").count() == 4
    page.fill("input[name=filter]", "params.optimizer = 'adam'")
    page.click("#run-filters button[type=submit]")
    page.wait_for_url("**filter=*")
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == 1 and "tuned" in rows.first.inner_text()
    page.goto("/ui/runs")
    page.select_option("select[name=status]", "failed")
    page.click("#run-filters button[type=submit]")
    page.wait_for_url("**status=failed*")
    assert page.locator("#runs-table tbody tr").count() == 1
    assert "train-flow-run" in page.inner_text("#runs-table")
    shot(page, "02-runs-filtered")


def test_run_page_draws_metric_charts_and_the_dag(page: Any) -> None:
    page.goto("/ui/runs")
    page.click("text=train-flow-run")
    page.wait_for_selector("figure[data-chart][data-rendered]")
    charts = page.locator("figure[data-chart]")
    assert charts.count() == 2
    for i in range(2):
        figure = charts.nth(i)
        assert figure.get_attribute("data-rendered") == "30"
        assert coloured(page, figure, BLUE) > 200  # the series line is on the canvas
    assert page.locator("svg.dag g.node").count() == 5
    assert page.locator("svg.dag g.n-failed").count() == 1
    assert page.locator("svg.dag path.edge").count() == 4
    shot(page, "03-run-page")
    page.click("#tasks-table >> text=logs >> nth=6")
    page.wait_for_selector("#log-stdout")
    assert "[report] started" in page.inner_text("#log-stdout")
    shot(page, "04-task-logs")


def test_artifact_previews(page: Any, ui_app: UiApp) -> None:
    run = ui_app.seeded.runs["train-flow-run"]
    page.goto(f"/ui/runs/{run}")
    page.click("#artifacts >> text=dataset")
    page.wait_for_selector("#preview-table")
    assert page.locator("#preview-table tbody tr").count() == 50
    shot(page, "05-artifact-table")
    page.goto(f"/ui/runs/{run}")
    page.click("#artifacts >> text=confusion.png")
    image = page.wait_for_selector("#preview-image")
    page.wait_for_function("document.getElementById('preview-image').complete")
    assert page.evaluate("document.getElementById('preview-image').naturalWidth") == 96
    assert image is not None
    shot(page, "06-artifact-image")
    page.goto(f"/ui/runs/{run}")
    page.click("#artifacts >> text=notes.txt")
    assert "<script>alert('xss')</script>" in page.inner_text("#preview-text")  # shown, not run
    with page.expect_download() as download:
        page.click("text=Download")
    assert download.value.suggested_filename == "notes.txt"


def test_compare_two_runs(page: Any) -> None:
    page.goto("/ui/runs?order=name")
    button = page.locator("#compare-button")
    assert button.is_disabled()
    for name in ("baseline", "tuned"):
        page.check(f"input[aria-label='select {name}']")
    assert button.inner_text() == "Compare 2 runs"
    button.click()
    page.wait_for_url("**/ui/compare?**")
    page.wait_for_selector("figure[data-chart][data-rendered]")
    diff = page.locator("#param-diff tr.diff th")
    assert sorted(diff.all_inner_texts()) == ["lr", "optimizer"]
    figure = page.locator("figure[data-chart]").first
    assert coloured(page, figure, BLUE) > 200 and coloured(page, figure, RED) > 200  # two curves
    legend = figure.locator(".u-legend .u-series .u-label")
    assert {t.strip() for t in legend.all_inner_texts()} >= {"baseline", "tuned"}
    shot(page, "07-compare")


def test_open_a_model(page: Any) -> None:
    page.goto("/ui/runs")
    page.click("nav >> text=Models")
    page.click("text=churn-model")
    page.wait_for_selector("#versions-table")
    assert page.locator("#versions-table tbody tr").count() == 2
    assert "v2" in page.inner_text("#aliases")
    shot(page, "08-model")
    page.click("#aliases >> text=v2")
    page.wait_for_selector("#model-card")
    assert "Retrained." in page.inner_text("#model-card")
    lineage = page.inner_text("#lineage")
    assert "dataset" in lineage and "train-flow-run" in lineage and "churn-model v2" in lineage
    shot(page, "09-model-version")


def test_sign_in_with_a_password_and_out_again(browser: Any, live: LiveServer, ui_app: UiApp) -> None:
    from shipyard.security.passwords import hash_password

    security = ui_app.app.state.ctx.security  # type: ignore[attr-defined]
    security.set_password("rita", hash_password("rita's long passphrase"))
    security.set_password("alice", hash_password("alice's long passphrase"))
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live.url)
    page = context.new_page()
    watch = Watch(page)
    page.goto("/ui/runs")
    page.wait_for_url("**/ui/login?next=*")
    page.fill("#username", "rita")
    page.fill("#password", "not the passphrase")
    page.click("#password-form button[type=submit]")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "wrong user name or password" in page.inner_text("#login-error")
    page.fill("#password", "rita's long passphrase")
    page.click("#password-form button[type=submit]")
    page.wait_for_url("**/ui/runs")
    cookie = next(c for c in context.cookies() if c["name"] == "shipyard_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.locator("nav a", has_text="Audit").count() == 0  # a reader has no audit:read
    page.click("text=Sign out")
    page.wait_for_url("**/ui/login")
    assert live.get("/ui/runs", cookie=f"shipyard_token={cookie['value']}").status == 401  # revoked
    # an admin signs in the same way and finds the audit page in the navigation
    page.fill("#username", "alice")
    page.fill("#password", "alice's long passphrase")
    page.click("#password-form button[type=submit]")
    page.wait_for_url("**/ui/runs")
    page.click("nav >> text=Audit")
    page.wait_for_url("**/ui/audit")
    assert "chain ok" in page.inner_text("#chain-verdict")
    assert "sign-in password" in page.inner_text("#audit-table")
    shot(page, "10-audit-log")
    context.close()
    assert all("401" in p for p in watch.problems), watch.problems


def test_a_notebook_steps_executed_notebook_is_rendered_as_text(page: Any, ui_app: UiApp) -> None:
    # the last test of this module: the tests above count the seeded runs
    run_id, task_id = notebook_task(ui_app.seeded.stores, "notebook-step-run")
    page.goto(f"/ui/runs/{run_id}/tasks/{task_id}/logs")
    notebook = page.wait_for_selector("#notebook")
    assert notebook is not None
    text = page.inner_text("#notebook")
    assert "hello from the notebook" in text
    assert XSS in text  # a printed <script> and one in a text/html output: shown as text...
    assert page.locator("#notebook script").count() == 0  # ... never parsed as elements (Watch: no dialog)
    images = page.locator("#notebook img.nb-image")
    assert images.count() == 1
    page.wait_for_function("[...document.querySelectorAll('#notebook img')].every(i => i.complete)")
    assert page.evaluate("document.querySelector('#notebook img.nb-image').naturalWidth") == 96
    shot(page, "11-notebook-task")
