"""The UI's pure parts: query building, chart data, DAG layout, previews, names, vendored files."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from shipyard.core.entities import ArtifactRecord, Metric, Task, TaskStatus
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.metadata.filters import parse_filter
from shipyard.server.ui.charts import MAX_POINTS, chart_data
from shipyard.server.ui.dag import layout_dag
from shipyard.server.ui.preview import build_preview, download_name, image_type
from shipyard.server.ui.queries import RunsQuery, quote_key
from shipyard.server.ui.session import safe_next, static_file
from shipyard.server.ui.templating import make_environment
from tests.ui.seed import _flow_graph, make_png, open_test_stores

UPLOT_SHA256 = {
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
}


def test_query_fields_become_one_quoted_filter() -> None:
    q = RunsQuery.from_params({"tag": "team=it's", "filter": "metrics.acc > 0.5 or params.x = 1"})
    expr = q.filter_expression()
    assert expr == "(metrics.acc > 0.5 or params.x = 1) AND tags.team = 'it''s'"
    parse_filter(expr)  # valid filter language
    odd = RunsQuery(tag='a"b c=1').filter_expression()
    assert odd == 'tags."a""b c" = \'1\''
    assert RunsQuery(tag="stage").filter_expression() == "tags.stage LIKE '%'"
    assert RunsQuery().filter_expression() is None
    assert quote_key("train/loss") == '"train/loss"' and quote_key("a.b") == "a.b"


@pytest.mark.parametrize(
    "params",
    [
        {"status": "done"},
        {"order": "random"},
        {"offset": "-1"},
        {"limit": "1000"},
        {"limit": "x"},
        {"tag": "=v"},
    ],
)
def test_bad_query_fields_are_invalid_input(params: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError):
        RunsQuery.from_params(params).filter_expression()


def test_query_urls_keep_fields_and_change_offset() -> None:
    q = RunsQuery(flow="f", filter="metrics.a > 1", offset=50)
    assert q.url(offset=100) == "?flow=f&filter=metrics.a+%3E+1&offset=100"
    assert q.url(offset=0) == "?flow=f&filter=metrics.a+%3E+1"


def test_chart_data_aligns_series_and_drops_non_finite_values() -> None:
    a = [Metric("loss", 1.0, 0), Metric("loss", math.nan, 1), Metric("loss", 0.5, 2)]
    b = [Metric("loss", 2.0, 1), Metric("loss", math.inf, 3)]
    chart = chart_data("loss", {"a": a, "b": b})
    assert chart["labels"] == ["a", "b"]
    assert chart["data"] == [[0, 1, 2, 3], [1.0, None, 0.5, None], [None, 2.0, None, None]]
    unstepped = chart_data("x", {"r": [Metric("x", float(i)) for i in range(4)]})
    assert unstepped["data"] == [[0, 1, 2, 3], [0.0, 1.0, 2.0, 3.0]]  # all at step 0: by index
    long = chart_data("x", {"r": [Metric("x", float(i), i) for i in range(10 * MAX_POINTS + 3)]})
    assert len(long["data"][0]) <= MAX_POINTS + 1 and long["data"][0][-1] == 10 * MAX_POINTS + 2


def _task(step: str, key: str, status: TaskStatus) -> Task:
    return Task(id=key, run_id="r", step=step, key=key, status=status)


def test_dag_layout_levels_edges_and_worst_status() -> None:
    tasks = [
        _task("load", "load", TaskStatus.SUCCEEDED),
        _task("featurize", "featurize[0]", TaskStatus.SUCCEEDED),
        _task("featurize", "featurize[1]", TaskStatus.FAILED),
    ]
    dag = layout_dag(_flow_graph(), tasks)
    assert dag is not None
    nodes = {n.name: n for n in dag.nodes}
    assert [nodes[n].x for n in ("load", "featurize", "train")] == sorted({n.x for n in dag.nodes})[:3]
    assert nodes["featurize"].status == "failed" and nodes["featurize"].mapped
    assert nodes["featurize"].summary == "1 failed, 1 succeeded"
    assert nodes["train"].status == "none" and nodes["train"].summary == "no tasks"
    assert len(dag.edges) == 4 and dag.width > 4 * 168
    # without a stored graph: one box per step seen in the tasks, no edges
    fallback = layout_dag(None, tasks)
    assert fallback is not None and [n.name for n in fallback.nodes] == ["load", "featurize"]
    assert fallback.edges == []
    assert layout_dag({"graph": {"flow": "x", "nodes": [{"bad": 1}]}}, []) is None
    assert layout_dag(None, []) is None


def _record(name: str, digest: str, size: int, serializer: str) -> ArtifactRecord:
    return ArtifactRecord("a", "r", name, digest, size, serializer, datetime.now(UTC))


def test_previews_decide_by_content(tmp_path: Path) -> None:
    stores = open_test_stores(tmp_path)
    try:
        store = stores.artifacts

        def put(data: bytes, name: str, serializer: str = "bytes") -> ArtifactRecord:
            return _record(name, store.put_bytes(data), len(data), serializer)

        assert build_preview(store, put(make_png(), "x.bin")).kind == "image"
        assert build_preview(store, put(b"\xff\xd8\xff\xe0rest", "photo")).kind == "image"
        spoof = build_preview(store, put(b"<svg onload=alert(1)>", "x.png"))
        assert spoof.kind == "text" and spoof.text == "<svg onload=alert(1)>"
        assert build_preview(store, put(b"\x00\x01\x02\xff\xfe", "blob")).kind == "none"
        pretty = build_preview(store, put(b'{"b":1,"a":[1,2]}', "cfg.json", "json"))
        assert pretty.kind == "text" and pretty.text.startswith('{\n  "b": 1')
        big = build_preview(store, put(b"x" * (300 << 10), "big.txt"))
        assert big.kind == "text" and big.truncated and len(big.text) == 256 << 10
        pickled = ArtifactRecord("a", "r", "obj", "0" * 64, 10, "pickle", datetime.now(UTC), unsafe=True)
        refused = build_preview(store, pickled)  # never loaded: the digest does not even exist
        assert refused.kind == "none" and "pickle" in refused.note
    finally:
        stores.close()


def test_image_sniffing_and_download_names() -> None:
    assert image_type(make_png()) == "image/png"
    assert image_type(b"GIF89a") is None and image_type(b"<html>") is None
    assert download_name(_record("data/train set", "0" * 64, 1, "parquet")) == "train_set.parquet"
    assert download_name(_record("../../etc/passwd", "0" * 64, 1, "file")) == "passwd"
    assert download_name(_record('a"b;c.txt', "0" * 64, 1, "file")) == "a_b_c.txt"
    assert download_name(_record("model", "0" * 64, 1, "dir")) == "model.tar"
    assert download_name(_record("...", "0" * 64, 1, "bytes")) == "artifact"


def test_login_redirects_stay_inside_the_ui() -> None:
    assert safe_next("/ui/runs?x=1") == "/ui/runs?x=1"
    for bad in ("https://evil.example", "//evil.example/ui/", "/api/v1/x", "/ui\\..", "javascript:alert(1)"):
        assert safe_next(bad) == "/ui/runs"


def test_static_files_are_confined_to_the_static_folder() -> None:
    assert static_file("ui.css").name == "ui.css"
    for bad in ("../templates/base.html", "../__init__.py", "vendor/uplot/LICENSE", "nope.js", "/etc/passwd"):
        with pytest.raises(NotFoundError):
            static_file(bad)


def test_vendored_uplot_is_the_npm_release() -> None:
    folder = resources.files("shipyard.server.ui") / "static" / "vendor" / "uplot"
    for name, digest in UPLOT_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


def test_templates_autoescape_and_json_script_is_inert() -> None:
    env = make_environment()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    out = env.from_string("{{ x|json_script }}").render(x={"t": "</script><!--&"})
    assert "</script>" not in out and "<!--" not in out and "\\u003c/script\\u003e" in out


def test_charts_read_a_bounded_number_of_points(tmp_path: Path) -> None:
    from shipyard.server.ui.charts import chart_history
    from tests.contract.metadata_helpers import make_run

    stores = open_test_stores(tmp_path)
    try:
        run = make_run(stores.metadata)
        stores.metadata.log_metrics(run.id, [Metric("x", float(i), 200 - i, i) for i in range(120)])
        stores.metadata.log_metrics(run.id, [Metric("x", -1.0, 0, 0)])
        some, whole = chart_history(stores.metadata, run.id, "x", 50)
        assert not whole and len(some) == 50 and [m.step for m in some] == list(range(151, 201))
        everything, whole = chart_history(stores.metadata, run.id, "x", 500)
        assert whole and len(everything) == 121 and everything[0].value == -1.0
    finally:
        stores.close()
