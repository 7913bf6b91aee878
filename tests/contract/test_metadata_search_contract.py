"""The MetadataStore contract, part 3: search_runs, filters, ordering and paging (every backend)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shipyard.core.entities import (
    Metric,
    Run,
    RunStatus,
)
from shipyard.core.errors import InvalidInputError
from shipyard.metadata import MetadataStore
from tests.contract.metadata_helpers import T0, ids, make_run


# ---- search ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def populated(module_metadata_store: MetadataStore) -> dict[str, Run]:
    """Five runs with varied params, metrics and tags; start times one minute apart. Written once per
    backend: the tests that use it only read (each asserts the store still holds exactly these)."""
    metadata_store = module_metadata_store
    specs: list[dict[str, Any]] = [
        {"name": "rf-1", "params": {"model": "rf", "n": 100}, "tags": {"stage": "dev"}, "acc": 0.7},
        {"name": "rf-2", "params": {"model": "rf", "n": "100"}, "tags": {"stage": "prod"}, "acc": 0.95},
        {"name": "lr-1", "params": {"model": "lr", "n": 10}, "tags": {"stage": "dev"}, "acc": 0.91},
        {"name": "lr-2", "params": {"model": "LR", "n": 1.5}, "tags": {}, "acc": None},
        {"name": "xgb", "params": {"model": "xgb", "flag": True}, "tags": {"stage": "dev"}, "acc": 0.5,
         "namespace": "user:bob", "flow_name": "train"},
    ]  # fmt: skip
    runs: dict[str, Run] = {}
    for i, spec in enumerate(specs):
        run = make_run(
            metadata_store,
            name=spec["name"],
            params=spec["params"],
            tags=spec["tags"],
            namespace=spec.get("namespace", "user:alice"),
            user=spec.get("namespace", "user:alice").split(":")[1],
            flow_name=spec.get("flow_name"),
            start_time=T0 + timedelta(minutes=i),
        )
        if spec["acc"] is not None:
            metadata_store.log_metrics(
                run.id, [Metric("acc", spec["acc"], 1, 1), Metric("train/loss", 1 - i / 10)]
            )
        runs[spec["name"]] = run
    metadata_store.finish_run(runs["rf-1"].id, RunStatus.SUCCEEDED, T0 + timedelta(hours=1))
    metadata_store.finish_run(runs["lr-1"].id, RunStatus.FAILED, T0 + timedelta(hours=1), error="x")
    return runs


@pytest.fixture
def searched(module_metadata_store: MetadataStore, populated: dict[str, Run]) -> Iterator[MetadataStore]:
    """The module's populated store; afterwards, a check that the test left it as it was."""
    yield module_metadata_store
    assert module_metadata_store.count_runs() == len(populated), "a read-only search test wrote runs"


def names(page: list[Run]) -> list[str]:
    return [r.name for r in page]


def test_search_default_order_is_newest_first_and_loads_everything(
    searched: MetadataStore, populated: dict[str, Run]
) -> None:
    page = searched.search_runs()
    assert names(page.runs) == ["xgb", "lr-2", "lr-1", "rf-2", "rf-1"]
    assert page.next_offset is None and page.total == 5
    first = page.runs[-1]
    assert first.params == {"model": "rf", "n": 100} and first.tags == {"stage": "dev"}
    assert first.metrics == {"acc": 0.7, "train/loss": 1.0} and first.status is RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ("metrics.acc > 0.9", ["lr-1", "rf-2"]),
        ("metrics.acc >= 0.91 and metrics.acc <= 0.91", ["lr-1"]),
        ("metrics.acc != 0.7", ["xgb", "lr-1", "rf-2"]),
        ('metrics."train/loss" < 0.85', ["xgb", "lr-1"]),
        ("metrics.`train/loss` < 0.85", ["xgb", "lr-1"]),
        ("metrics.train/loss < 0.85", ["xgb", "lr-1"]),  # a key with '/' as users write it
        ("metrics.train/loss >= 0.9 and metrics.acc < 0.9", ["rf-1"]),
        ("(metrics.train/loss<0.7)", ["xgb"]),
        ("params.model = 'rf'", ["rf-2", "rf-1"]),
        ('params.model = "rf"', ["rf-2", "rf-1"]),
        ("params.model != 'rf'", ["xgb", "lr-2", "lr-1"]),
        ("params.n = 100", ["rf-2", "rf-1"]),
        ("params.n = '100'", ["rf-2", "rf-1"]),
        ("params.n > 5", ["lr-1", "rf-2", "rf-1"]),
        ("params.n < 2", ["lr-2"]),
        ("params.flag = true", ["xgb"]),
        ("params.model LIKE 'l%'", ["lr-1"]),
        ("params.model ILIKE 'l%'", ["lr-2", "lr-1"]),
        ("params.model IN ('rf', 'xgb')", ["xgb", "rf-2", "rf-1"]),
        ("params.model NOT IN ('rf', 'xgb')", ["lr-2", "lr-1"]),
        ("tags.stage = 'dev'", ["xgb", "lr-1", "rf-1"]),
        ("tags.stage != 'dev'", ["rf-2"]),
        ("metrics.acc > 0.9 and params.model = 'rf' and tags.stage = 'prod'", ["rf-2"]),
        ("metrics.acc > 0.9 or tags.stage = 'prod'", ["lr-1", "rf-2"]),
        ("(params.model = 'xgb' or params.model = 'lr') and tags.stage = 'dev'", ["xgb", "lr-1"]),
        ("name = 'rf-1'", ["rf-1"]),
        ("name LIKE 'rf-%'", ["rf-2", "rf-1"]),
        ("name ILIKE 'RF-%'", ["rf-2", "rf-1"]),
        ("name LIKE 'RF-%'", []),
        ("status = 'failed'", ["lr-1"]),
        ("status IN ('succeeded', 'failed')", ["lr-1", "rf-1"]),
        ("attributes.status = 'RUNNING'", ["xgb", "lr-2", "rf-2"]),
        ("user = 'bob'", ["xgb"]),
        ("namespace = 'user:bob'", ["xgb"]),
        ("flow = 'train'", ["xgb"]),
        ("start_time >= '2024-05-01T12:03:00+00:00'", ["xgb", "lr-2"]),
        ("start_time < '2024-05-01T12:01:00Z'", ["rf-1"]),
        (f"start_time < {int((T0 + timedelta(seconds=30)).timestamp() * 1000)}", ["rf-1"]),
        ("METRICS.acc > 0.9 AND Params.model = 'rf'", ["rf-2"]),
        ("params.missing = 'x'", []),
        ("", ["xgb", "lr-2", "lr-1", "rf-2", "rf-1"]),
    ],
)
def test_search_filters(
    searched: MetadataStore, populated: dict[str, Run], filter: str, expected: list[str]
) -> None:
    assert names(searched.search_runs(filter=filter).runs) == expected


def test_search_by_id(searched: MetadataStore, populated: dict[str, Run]) -> None:
    run = populated["lr-2"]
    assert ids(searched.search_runs(filter=f"id = '{run.id}'").runs) == [run.id]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.acc DESC"], ["rf-2", "lr-1", "rf-1", "xgb", "lr-2"]),  # no metric: last
        (["metrics.acc ASC"], ["xgb", "rf-1", "lr-1", "rf-2", "lr-2"]),
        (["metrics.acc"], ["xgb", "rf-1", "lr-1", "rf-2", "lr-2"]),
        (["metrics.train/loss"], ["xgb", "lr-1", "rf-2", "rf-1", "lr-2"]),
        (["params.n"], ["lr-2", "lr-1", "rf-2", "rf-1", "xgb"]),  # ties: newest first
        (["name"], ["lr-1", "lr-2", "rf-1", "rf-2", "xgb"]),
        (["name DESC"], ["xgb", "rf-2", "rf-1", "lr-2", "lr-1"]),
        (["start_time ASC"], ["rf-1", "rf-2", "lr-1", "lr-2", "xgb"]),
        (["tags.stage", "name DESC"], ["xgb", "rf-1", "lr-1", "rf-2", "lr-2"]),
        (["status", "start_time"], ["lr-1", "rf-2", "lr-2", "xgb", "rf-1"]),
    ],
)
def test_search_order_by(
    searched: MetadataStore, populated: dict[str, Run], order_by: list[str], expected: list[str]
) -> None:
    assert names(searched.search_runs(order_by=order_by).runs) == expected


def test_search_pagination(searched: MetadataStore, populated: dict[str, Run]) -> None:
    first = searched.search_runs(max_results=2, order_by=["name"])
    assert names(first.runs) == ["lr-1", "lr-2"] and first.next_offset == 2
    second = searched.search_runs(max_results=2, order_by=["name"], offset=first.next_offset or 0)
    assert names(second.runs) == ["rf-1", "rf-2"] and second.next_offset == 4
    last = searched.search_runs(max_results=2, order_by=["name"], offset=4)
    assert names(last.runs) == ["xgb"] and last.next_offset is None and last.total == 5
    exact = searched.search_runs(max_results=5)
    assert len(exact.runs) == 5 and exact.next_offset is None
    assert searched.search_runs(offset=10).runs == []
    assert searched.count_runs() == 5
    assert searched.count_runs(filter="metrics.acc > 0.9") == 2
    assert searched.count_runs(namespaces=["user:bob"]) == 1


def test_search_namespaces_flow_and_statuses(searched: MetadataStore, populated: dict[str, Run]) -> None:
    assert names(searched.search_runs(namespaces=["user:bob"]).runs) == ["xgb"]
    assert len(searched.search_runs(namespaces=["user:alice"]).runs) == 4
    assert len(searched.search_runs(namespaces=["user:alice", "user:bob"]).runs) == 5
    assert searched.search_runs(namespaces=[]).runs == []
    assert searched.search_runs(namespaces=["user:carol"]).runs == []
    assert names(searched.search_runs(flow_name="train").runs) == ["xgb"]
    assert names(searched.search_runs(statuses=[RunStatus.FAILED, RunStatus.SUCCEEDED]).runs) == [
        "lr-1",
        "rf-1",
    ]
    page = searched.search_runs(
        namespaces=["user:alice"], statuses=[RunStatus.RUNNING], filter="metrics.acc > 0"
    )
    assert names(page.runs) == ["rf-2"]


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ("metrics.acc >", "expected a value"),
        ("metrics.acc > 'high'", "number"),
        ("colour = 'red'", "unknown field 'colour'"),
        ("foo.bar = 1", "unknown field prefix 'foo'"),
        ("metrics.acc ~ 1", "unexpected character '~'"),
        ("metrics.acc = 1 metrics.b = 2", "and"),
        ("name = 'unterminated", "unterminated"),
        ("params.x = ''; drop table runs; --", "unexpected character ';'"),
        ("params.x = 1 or 1=1", "expected a field"),
        ("(metrics.acc > 1", "')'"),
        ("metrics.acc > 1)", "unmatched ')'"),
        ("status = 'done'", "valid statuses"),
        ("name = 5", "quote the value"),
        ("start_time > 'yesterday'", "ISO-8601"),
        ("metrics.acc LIKE 'a%'", "LIKE works on strings"),
        ("params.flag > true", "true/false"),
        ("metrics.train/loss@5 < 1", 'quote a key with other characters: metrics."train/loss@5"'),
        ("params.a:b = 1", 'params."a:b"'),
        ("metrics.train loss < 1", 'a key with a space is quoted: metrics."train loss"'),
        ("metrics.train / loss < 1", "no spaces around '/'"),
        ("metrics./loss < 1", "expected a key name"),
    ],
)
def test_search_filter_errors_are_clear(
    searched: MetadataStore, populated: dict[str, Run], filter: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        searched.search_runs(filter=filter)
    assert len(searched.search_runs().runs) == len(populated)  # nothing was executed, nothing dropped


@pytest.mark.parametrize("order_by", [["colour"], ["metrics.acc SIDEWAYS"], ["metrics"], ["name ASC DESC"]])
def test_search_order_by_errors(searched: MetadataStore, order_by: list[str]) -> None:
    with pytest.raises(InvalidInputError):
        searched.search_runs(order_by=order_by)


def test_search_argument_errors(searched: MetadataStore) -> None:
    with pytest.raises(InvalidInputError):
        searched.search_runs(max_results=0)
    with pytest.raises(InvalidInputError):
        searched.search_runs(offset=-1)


def test_filter_values_are_bound_not_formatted(metadata_store: MetadataStore) -> None:
    make_run(metadata_store, params={"q": "it's"}, tags={"sql": "'; drop table runs; --"})
    assert len(metadata_store.search_runs(filter="params.q = 'it''s'").runs) == 1
    assert len(metadata_store.search_runs(filter="tags.sql = '''; drop table runs; --'").runs) == 1
    assert len(metadata_store.search_runs().runs) == 1


def test_hidden_projects_are_left_out_of_search_and_count(metadata_store: MetadataStore) -> None:
    shown = make_run(metadata_store, namespace="project:fraudster")  # a different project, same prefix
    hidden = make_run(metadata_store, namespace="project:fraud")
    mine = make_run(metadata_store, namespace="user:ann")
    page = metadata_store.search_runs(hidden_projects=["fraud"])
    assert {r.id for r in page.runs} == {shown.id, mine.id}
    assert metadata_store.count_runs(hidden_projects=["fraud"]) == 2
    assert metadata_store.count_runs(namespaces=["project:fraud"], hidden_projects=["fraud"]) == 0
    assert {r.id for r in metadata_store.search_runs().runs} == {shown.id, hidden.id, mine.id}
    assert metadata_store.count_runs(hidden_projects=["fraud", "fraudster"]) == 1
