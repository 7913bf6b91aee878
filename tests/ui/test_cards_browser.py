"""Cards in headless Chromium: a running step's card updates on the task page without a reload,
and what a card carries as markup (``<script>``, ``onerror=``) never runs and never becomes an
element; the card frame is sandboxed and loads nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from shipyard.core.entities import TaskStatus
from shipyard.runtime.api import RunOptions, run_file
from tests.ui.conftest import UiApp
from tests.ui.live import LiveServer
from tests.ui.test_browser import Watch, browser, shot  # noqa: F401 (browser: the module's fixture)

FLOWS = Path(__file__).parent / "card_flows"


def _card_text(page: Any) -> str:
    frame = page.frame_locator("#card-frame")
    return str(frame.locator("body").inner_text())


def _wait(predicate: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_running_steps_card_updates_live_and_its_payload_never_runs(
    browser: Any,  # noqa: F811
    live: LiveServer,
    ui_app: UiApp,
    tmp_path: Path,
) -> None:
    stores = ui_app.seeded.stores
    finished: dict[str, Any] = {}

    def run() -> None:
        options = RunOptions(max_workers=1, executor_options={"start_method": "spawn"})
        finished["run"] = run_file(
            FLOWS / "live_card.py", {"folder": str(tmp_path)}, stores.settings, options
        )

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:

        def running_task() -> Any:
            page_ = stores.metadata.search_runs(namespaces=[stores.settings.user_namespace], max_results=20)
            for r in page_.runs:
                if r.flow_name == "live_card":
                    tasks = stores.metadata.list_tasks(r.id)
                    cards = [a for a in stores.metadata.list_artifacts(r.id) if a.name == "card"]
                    if tasks and cards and tasks[0].status is TaskStatus.RUNNING:
                        return r.id, tasks[0].id
            return None

        run_id, task_id = _wait(running_task, "the step's first card")
        context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live.url)
        context.add_cookies([{"name": "shipyard_token", "value": ui_app.token, "url": live.url}])
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch = Watch(page)
        page.goto(f"/ui/runs/{run_id}/tasks/{task_id}/logs")
        assert page.get_attribute("#card-frame", "data-live") == "1"
        frame = page.frame_locator("#card-frame")
        frame.locator("h1", has_text="phase one").wait_for()
        text = _card_text(page)
        assert "<script>alert('card-md')</script>" in text  # shown as text ...
        assert "<script>alert('card-cell')</script>" in text
        assert frame.locator("script").count() == 0  # ... never an element
        assert frame.locator("img").count() == 0  # the onerror= payload is text too
        assert frame.locator("svg.chart polyline").count() == 1
        page.evaluate("window.__notReloaded = true")
        shot(page, "12-card-live-phase-one")

        (tmp_path / "release-1").touch()  # the step redraws its card and refreshes it
        frame.locator("h1", has_text="phase two").wait_for(timeout=20_000)
        assert page.evaluate("window.__notReloaded === true")  # the frame changed, not the page
        assert "phase one" not in _card_text(page)
        shot(page, "13-card-live-phase-two")

        (tmp_path / "release-2").touch()
        runner.join(timeout=60)
        assert finished["run"].status.value == "succeeded"
        page.wait_for_selector("#card-frame:not([data-live])", timeout=20_000)  # polling stopped
        assert "Task details" in _card_text(page)  # the default card joins the step's own
        sandbox = page.get_attribute("#card-frame", "sandbox")
        assert sandbox == ""  # no permission at all: no script, no same origin
        context.close()
        assert watch.problems == []
    finally:
        (tmp_path / "release-1").touch()
        (tmp_path / "release-2").touch()
        runner.join(timeout=60)


def test_the_card_page_is_served_sandboxed_with_a_strict_policy(live: LiveServer, ui_app: UiApp) -> None:
    stores = ui_app.seeded.stores
    run = run_file(FLOWS / "plain.py", {}, stores.settings, RunOptions(max_workers=1))
    task = next(t for t in run.tasks if t.step == "make")
    reply = live.get(f"/ui/runs/{run.id}/tasks/{task.id}/card", ui_app.token)
    assert reply.status == 200
    policy = reply.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy and "script-src" not in policy
    assert reply.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "<script" not in reply.text.lower()
    assert "Resources" in reply.text and "cpu" in reply.text  # the default card of a plain step
    version = live.get(f"/ui/runs/{run.id}/tasks/{task.id}/card/version", ui_app.token)
    assert version.status == 200 and '"running":false' in version.text.replace(" ", "")
    assert live.get(f"/ui/runs/{run.id}/tasks/{task.id}/card").status == 401  # no token
    other = ui_app.seeded.runs["baseline"]
    assert live.get(f"/ui/runs/{other}/tasks/{task.id}/card", ui_app.token).status == 404
