"""Metric charts in Chromium: a scalar metric (one value per run) shows as a value on the run page
and as bars on the compare page, not as a lone point; series charts zoom (drag) and answer hover
with a tooltip of every series' value at the cursor."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core.entities import Metric, RunStatus
from shipyard.server.ui.bars import bar_chart
from shipyard.tracking.client import TrackingClient
from tests.ui.conftest import UiApp
from tests.ui.test_browser import BLUE, RED, Watch, browser, coloured  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def scalar_runs(ui_app: UiApp) -> dict[str, str]:
    client = TrackingClient(ui_app.seeded.stores)
    made = {}
    for name, acc, f1 in (("scalar-a", 0.9, 0.8), ("scalar-b", 0.45, 0.85)):
        run = client.create_run(name, params={"depth": 3 if name.endswith("a") else 7})
        points = [Metric("acc", acc, 0), Metric("f1", f1, 0)]
        points += [Metric("loss", 1.0 / (1 + s * (2 if name.endswith("a") else 1)), s) for s in range(40)]
        client.log_metrics(run.id, points)
        client.finish_run(run.id, RunStatus.SUCCEEDED)
        made[name] = run.id
    return made


@pytest.fixture
def page(browser: Any, live: Any, ui_app: UiApp) -> Any:  # noqa: F811
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live.url)
    context.add_cookies([{"name": "shipyard_token", "value": ui_app.token, "url": live.url}])
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    watch = Watch(tab)
    yield tab
    context.close()
    assert watch.problems == []


def test_bar_geometry_is_proportional_and_handles_negatives() -> None:
    chart = bar_chart("acc", [("a", 0.9), ("b", 0.45), ("c", None)])
    a, b, c = chart.rows
    assert a.width == pytest.approx(2 * b.width) and a.x == b.x == chart.zero_x
    assert c.width == 0 and c.text == "—"
    mixed = bar_chart("delta", [("up", 2.0), ("down", -1.0)])
    up, down = mixed.rows
    assert down.x < mixed.zero_x <= up.x and up.width == pytest.approx(2 * down.width)


def test_run_page_shows_scalars_as_values_and_series_as_charts(
    page: Any, scalar_runs: dict[str, str]
) -> None:
    page.goto(f"/ui/runs/{scalar_runs['scalar-a']}")
    page.wait_for_selector("figure[data-chart][data-rendered]")
    stats = dict(
        zip(
            page.locator("#scalar-metrics .stat-name").all_inner_texts(),
            page.locator("#scalar-metrics .stat-value").all_inner_texts(),
            strict=True,
        )
    )
    assert stats == {"acc": "0.9", "f1": "0.8"}
    captions = page.locator("figure[data-chart] figcaption").all_inner_texts()
    assert captions == ["loss"]  # no lone-point charts for acc and f1


def test_compare_shows_scalars_as_bars_and_series_overlaid(page: Any, scalar_runs: dict[str, str]) -> None:
    page.goto(f"/ui/compare?run={scalar_runs['scalar-a']}&run={scalar_runs['scalar-b']}")
    page.wait_for_selector("figure[data-chart][data-rendered]")
    acc = page.locator("figure[data-bars='acc']")
    widths = [
        float(w or 0)
        for w in acc.locator("rect.bar").evaluate_all("rs => rs.map(r => r.getAttribute('width'))")
    ]
    assert len(widths) == 2 and widths[0] == pytest.approx(2 * widths[1], rel=0.01)
    assert acc.locator(".bar-value").all_text_contents() == ["0.9", "0.45"]
    assert page.locator("figure[data-bars]").count() == 2  # acc and f1
    loss = page.locator("figure[data-chart]")
    assert loss.count() == 1 and loss.locator("figcaption").inner_text() == "loss"
    assert coloured(page, loss, BLUE) > 100 and coloured(page, loss, RED) > 100  # both curves


def test_series_chart_zooms_on_drag_and_shows_values_on_hover(page: Any, scalar_runs: dict[str, str]) -> None:
    page.goto(f"/ui/compare?run={scalar_runs['scalar-a']}&run={scalar_runs['scalar-b']}")
    figure = page.locator("figure[data-chart]").first
    page.wait_for_selector("figure[data-chart][data-rendered]")
    over = figure.locator(".u-over")
    figure.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)  # hover: the tooltip names both runs
    tip = figure.locator(".chart-tip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert "step" in text and "scalar-a" in text and "scalar-b" in text
    assert figure.get_attribute("data-zoom") is None
    page.mouse.move(box["x"] + box["width"] * 0.2, y)  # drag across a part of the x axis: zoom in
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.4, y, steps=5)
    page.mouse.up()
    page.wait_for_selector("figure[data-chart][data-zoom]")
    low, high = (float(v) for v in (figure.get_attribute("data-zoom") or "").split(".."))
    assert 4 <= low < high <= 20  # about steps 8..16 of 0..39
    figure.locator("button.chart-reset").click()
    page.wait_for_function("!document.querySelector('figure[data-chart]').hasAttribute('data-zoom')")
    assert figure.locator("button.chart-reset").is_hidden()


@pytest.fixture(scope="module")
def sweep(ui_app: UiApp) -> list[str]:
    client = TrackingClient(ui_app.seeded.stores)
    ids = []
    for name, lr, opt, acc in (
        ("sweep-1", 0.1, "sgd", 0.7),
        ("sweep-2", 0.01, "adam", 0.95),
        ("sweep-3", 0.05, "sgd", 0.8),
    ):
        run = client.create_run(name, params={"lr": lr, "opt": opt, "epochs": 10})
        client.log_metrics(run.id, [Metric("acc", acc, 0), Metric("f1", 1 - acc, 0)])
        client.finish_run(run.id, RunStatus.SUCCEEDED)
        ids.append(run.id)
    return ids


def test_parallel_coordinates_of_params_against_a_chosen_metric(
    page: Any, sweep: list[str], live: Any, ui_app: UiApp
) -> None:
    page.goto("/ui/compare?" + "&".join(f"run={i}" for i in sweep))
    chart = page.locator("#parallel svg.parallel")
    chart.wait_for()
    names = chart.locator("g.axis").evaluate_all("gs => gs.map(g => g.dataset.name)")
    assert names == ["lr", "opt", "epochs", "acc"]  # differing params first, the metric last
    lines = chart.locator("polyline.run-line")
    assert lines.count() == 3
    ys = lines.evaluate_all(
        "ls => ls.map(l => l.getAttribute('points').split(' ').map(p => +p.split(',')[1]))"
    )
    acc_y = [y[-1] for y in ys]
    assert acc_y[1] < acc_y[2] < acc_y[0]  # higher accuracy sits higher (smaller y)
    lr_y = [y[0] for y in ys]
    assert lr_y[0] < lr_y[2] < lr_y[1]  # lr 0.1 on top, 0.01 at the bottom
    assert ys[0][1] == ys[2][1] != ys[1][1]  # two runs share the optimizer "sgd"
    assert "sweep-2: acc 0.95" in lines.nth(1).locator("title").text_content()
    page.select_option("#parallel-form select[name=metric]", "f1")
    page.click("#parallel-form button[type=submit]")
    page.wait_for_url("**metric=f1*")
    assert chart.locator("g.metric-axis").get_attribute("data-name") == "f1"
    flipped = chart.locator("polyline.run-line").evaluate_all(
        "ls => ls.map(l => +l.getAttribute('points').split(' ').at(-1).split(',')[1])"
    )
    assert flipped[1] > flipped[2] > flipped[0]  # f1 = 1 - acc: the order turns over
    bad = live.get("/ui/compare?" + "&".join(f"run={i}" for i in sweep) + "&metric=nope", ui_app.token)
    assert bad.status == 400 and "not a metric of these runs" in bad.text


def test_parallel_coordinates_place_missing_params_below_the_axis() -> None:
    from shipyard.server.ui.parallel import BOTTOM, HEIGHT, parallel_coords

    chart = parallel_coords(["a", "b"], [{"lr": 0.1, "opt": "x"}, {"lr": 0.2}], "acc", [0.5, None])
    assert [a.name for a in chart.axes] == ["lr", "opt", "acc"]  # both differ; sorted
    opt = chart.axes[1]
    assert [t.text for t in opt.ticks] == ["x", "—"]
    assert chart.lines[1].ys[1] > HEIGHT - BOTTOM  # b has no opt: below the axis
    assert chart.lines[1].ys[-1] > HEIGHT - BOTTOM and "acc —" in chart.lines[1].title
