"""``runs compare``, ``metrics RUN KEY``, ``runs list --columns`` and the empty listing."""

from __future__ import annotations

from typing import Any

from shipyard.cli.metrics import sparkline
from shipyard.core.entities import Metric, RunStatus
from shipyard.core.settings import load_settings
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import open_stores
from tests.cli.conftest import Seeded


def _second_run(points: int = 0) -> str:
    stores = open_stores(load_settings())
    try:
        client = TrackingClient(stores)
        run = client.create_run("train-2", params={"lr": 0.1, "depth": 3})
        client.log_metrics(run.id, [Metric("acc", 0.95, 0, 1)])
        client.log_metrics(run.id, [Metric("train/loss", 1.0 / (i + 1), i, 1 + i) for i in range(points)])
        client.finish_run(run.id, RunStatus.SUCCEEDED)
        return run.id
    finally:
        stores.close()


def test_compare_puts_params_and_metrics_side_by_side(cli: Any, seeded: Seeded) -> None:
    second = _second_run()
    result = cli("runs", "compare", seeded.good, second[:-4], "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["runs"] == [seeded.good, second]
    rows = {(r["section"], r["key"]): r for r in data["rows"]}
    assert rows["params", "lr"]["values"] == [0.1, 0.1] and not rows["params", "lr"]["differs"]
    assert rows["params", "depth"]["values"] == [None, 3] and rows["params", "depth"]["differs"]
    assert rows["metrics", "acc"]["values"] == [0.93, 0.95] and rows["metrics", "acc"]["differs"]
    text = cli("runs", "compare", seeded.good, second)
    assert text.code == 0, text.err
    acc = next(line for line in text.out.splitlines() if " acc " in line)
    assert acc.lstrip().startswith("*") and "0.93" in acc and "0.95" in acc
    lr = next(line for line in text.out.splitlines() if " lr " in line)
    assert not lr.lstrip().startswith("*")
    one = cli("runs", "compare", seeded.good)
    assert one.code == 2 and one.err.startswith("error: ") and "two or more runs" in one.err


def test_metrics_history_has_a_sparkline_and_pages(cli: Any, seeded: Seeded) -> None:
    run = _second_run(points=30)
    first = cli("metrics", run, "train/loss", "--limit", "20")
    assert first.code == 0, first.err
    assert "20 points" in first.out and "▁" in first.out and "█" in first.out
    hint = next(line for line in first.out.splitlines() if line.startswith("next page: "))
    token = hint.split("--page-token ")[1].strip()
    page = cli("metrics", run[:-4], "train/loss", "--limit", "20", "--page-token", token, "--json").json()
    assert [p["step"] for p in page["points"]] == list(range(20, 30)) and page["next_page_token"] is None
    missing = cli("metrics", run, "nosuch")
    assert missing.code == 0 and "no points" in missing.out and "acc, train/loss" in missing.out


def test_sparkline_scales_buckets_and_skips_nan() -> None:
    assert sparkline([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == "▁▂▃▄▅▆▇█"
    assert sparkline([1.0, float("nan"), 3.0]) == "▁ █"
    assert len(sparkline([float(i) for i in range(1000)], width=40)) == 40
    assert sparkline([2.0, 2.0]) == "▁▁" and sparkline([]) == ""


def test_list_columns_and_the_empty_listing_names_the_store(cli: Any, seeded: Seeded) -> None:
    result = cli("runs", "list", "--columns", "metrics.acc,params.lr,tags.team")
    assert result.code == 0, result.err
    header = next(line for line in result.out.splitlines() if line.startswith("ID"))
    assert header.split()[-3:] == ["metrics.acc", "params.lr", "tags.team"]
    good = next(line for line in result.out.splitlines() if line.startswith(seeded.good[:12]))
    assert good.split()[-3:] == ["0.93", "0.1", "fraud"]
    flow = next(line for line in result.out.splitlines() if line.startswith(seeded.flow[:12]))
    assert flow.split()[-3:] == ["-", "-", "-"]
    bad = cli("runs", "list", "--columns", "loss")
    assert bad.code == 2 and "use metrics.KEY, params.KEY or tags.KEY" in bad.err
    empty = cli("runs", "list", "--namespace", "nobody")
    assert empty.code == 0 and "no runs in nobody of the store" in empty.out
    assert empty.out.strip().endswith("shipyard.db")


def test_filters_take_keys_with_a_slash_and_show_the_quoted_form(cli: Any, seeded: Seeded) -> None:
    run = _second_run(points=5)  # train/loss ends at 0.2
    hits = cli("runs", "list", "--filter", "metrics.train/loss < 0.25", "--json")
    assert hits.code == 0, hits.err
    assert [r["id"] for r in hits.json()] == [run]
    assert cli("runs", "list", "--filter", "metrics.train/loss < 0.1", "--json").json() == []
    bad = cli("runs", "list", "--filter", "metrics.train/loss@5 < 1")
    assert bad.code == 1 and len(bad.err.splitlines()) == 1
    assert 'quote a key with other characters: metrics."train/loss@5"' in bad.err
