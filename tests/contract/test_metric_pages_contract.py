"""Metric history in pages, over every metadata backend (SQLite, Postgres, a shipyard server).

``get_metric_history_page`` returns at most ``limit`` points (default
``METRIC_PAGE_DEFAULT``, at most ``METRIC_PAGE_MAX``) in the order they were logged, with an
opaque ``next_page_token`` to pass back (None after the last page); ``get_metric_history``
returns every point, sorted by step then timestamp (ties in the order logged), whichever backend.
"""

from __future__ import annotations

import pytest

from shipyard.core.entities import Metric
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.metadata import MetadataStore
from shipyard.metadata.base import METRIC_PAGE_DEFAULT, METRIC_PAGE_MAX, MetricPage
from tests.contract.metadata_helpers import make_run


def _all_pages(store: MetadataStore, run_id: str, key: str, limit: int) -> list[MetricPage]:
    pages = [store.get_metric_history_page(run_id, key, limit=limit)]
    while pages[-1].next_page_token is not None:
        pages.append(
            store.get_metric_history_page(run_id, key, limit=limit, page_token=pages[-1].next_page_token)
        )
        assert len(pages) < 100
    return pages


def test_pages_walk_every_point_in_the_order_logged(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    logged: list[Metric] = []
    for batch in range(5):  # batches of different sizes, steps out of order, ties on step
        points = [
            Metric("loss", float(batch * 1000 + i), (7 - batch) * 100 + i % 50, 1000 + i)
            for i in range(300 + batch * 41)
        ]
        metadata_store.log_metrics(run.id, [*points, Metric("other", 1.0, 0, 0)])
        logged.extend(points)
    for limit in (1, 97, 300, 2000):
        pages = _all_pages(metadata_store, run.id, "loss", limit) if limit > 1 else None
        if pages is None:  # limit 1: only check the first few pages
            first = metadata_store.get_metric_history_page(run.id, "loss", limit=1)
            second = metadata_store.get_metric_history_page(
                run.id, "loss", limit=1, page_token=first.next_page_token
            )
            assert first.metrics + second.metrics == logged[:2]
            continue
        assert all(len(p.metrics) == limit for p in pages[:-1]) and 0 < len(pages[-1].metrics) <= limit
        assert [m for p in pages for m in p.metrics] == logged
    assert metadata_store.get_metric_history(run.id, "loss") == sorted(
        logged, key=lambda m: (m.step, m.timestamp)
    )


def test_the_default_page_is_bounded(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    points = [Metric("x", float(i), i, i) for i in range(METRIC_PAGE_DEFAULT + 5)]
    metadata_store.log_metrics(run.id, points)
    page = metadata_store.get_metric_history_page(run.id, "x")
    assert len(page.metrics) == METRIC_PAGE_DEFAULT and page.next_page_token is not None
    rest = metadata_store.get_metric_history_page(run.id, "x", page_token=page.next_page_token)
    assert rest.metrics == points[METRIC_PAGE_DEFAULT:] and rest.next_page_token is None
    assert metadata_store.get_metric_history(run.id, "x") == points  # the whole list, across pages


def test_empty_and_missing_series(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    empty = metadata_store.get_metric_history_page(run.id, "none")
    assert empty.metrics == [] and empty.next_page_token is None
    with pytest.raises(NotFoundError):
        metadata_store.get_metric_history_page("f" * 32, "x")


@pytest.mark.parametrize("limit", [0, -1, METRIC_PAGE_MAX + 1])
def test_limits_out_of_range_are_refused(metadata_store: MetadataStore, limit: int) -> None:
    run = make_run(metadata_store)
    with pytest.raises(InvalidInputError, match="limit"):
        metadata_store.get_metric_history_page(run.id, "x", limit=limit)


@pytest.mark.parametrize("token", ["", "abc", "1.2.3", "-1.0", "9" * 40, "1.-5", "1 .2"])
def test_tokens_not_issued_are_refused(metadata_store: MetadataStore, token: str) -> None:
    run = make_run(metadata_store)
    metadata_store.log_metrics(run.id, [Metric("x", 1.0)])
    with pytest.raises(InvalidInputError, match="page_token"):
        metadata_store.get_metric_history_page(run.id, "x", page_token=token)


def test_metric_columns_write_and_page_like_points(metadata_store: MetadataStore) -> None:
    """``log_metric_columns`` is ``log_metrics`` given parallel columns (one batch, keys mixed),
    and ``get_metric_columns_page`` is ``get_metric_history_page`` as columns, same tokens."""
    run = make_run(metadata_store)
    keys = ["loss"] * 250 + ["acc"] * 3
    values = [float(i) / 7 for i in range(250)] + [float("nan"), float("inf"), -0.0]
    steps = [(i * 37) % 100 for i in range(250)] + [0, 1, 2]
    stamps = [1_700_000_000_000 + i for i in range(253)]
    metadata_store.log_metric_columns(run.id, keys, values, steps, stamps)
    points = [Metric(k, v, s, t) for k, v, s, t in zip(keys, values, steps, stamps, strict=True)]
    assert metadata_store.get_metric_history_page(run.id, "loss", limit=1000).metrics == points[:250]
    got_values: list[float] = []
    got_steps: list[int] = []
    token = None
    while True:
        page = metadata_store.get_metric_columns_page(run.id, "loss", limit=60, page_token=token)
        assert len(page.values) == len(page.steps) == len(page.timestamps) <= 60
        got_values += page.values
        got_steps += page.steps
        token = page.next_page_token
        if token is None:
            break
    assert got_values == values[:250] and got_steps == steps[:250]
    acc = metadata_store.get_metric_columns_page(run.id, "acc")
    assert acc.timestamps == stamps[250:] and acc.values[1:] == [float("inf"), -0.0]
    assert str(acc.values[0]) == "nan" and str(acc.values[2]) == "-0.0"
    assert (
        metadata_store.get_run(run.id).metrics["loss"] == values[max(range(250), key=lambda i: (steps[i], i))]
    )


def test_metric_columns_refuse_bad_input(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    with pytest.raises(InvalidInputError):
        metadata_store.log_metric_columns(run.id, ["../x"], [1.0], [0], [0])
    with pytest.raises(NotFoundError):
        metadata_store.log_metric_columns("0" * 32, ["x"], [1.0], [0], [0])
    with pytest.raises(NotFoundError):
        metadata_store.get_metric_columns_page("0" * 32, "x")


def test_run_metric_chunks_page_through_every_key(metadata_store: MetadataStore) -> None:
    """``get_run_metric_chunks``: every point of every key of the run, a few chunks a page,
    each key's chunks in the order written; None where the backend has no such read."""
    import numpy as np

    from shipyard.metadata.base import METRIC_CHUNKS_PER_PAGE

    run = make_run(metadata_store)
    other = make_run(metadata_store)
    metadata_store.log_metric_columns(other.id, ["loss"], [9.0], [0], [0])  # not this run's
    keys = [f"k{i:02d}" for i in range(METRIC_CHUNKS_PER_PAGE + 3)]  # more chunks than a page
    logged: dict[str, list[tuple[float, int, int]]] = {k: [] for k in keys}
    for batch in range(2):
        cols: tuple[list[str], list[float], list[int], list[int]] = ([], [], [], [])
        for n, key in enumerate(keys):
            for i in range(n + 1):
                point = (float("nan") if i == 3 else batch + n / 8 + i, batch * 100 + i, 10 + i)
                logged[key].append(point)
                cols[0].append(key)
                cols[1].append(point[0])
                cols[2].append(point[1])
                cols[3].append(point[2])
        metadata_store.log_metric_columns(run.id, *cols)
    page = metadata_store.get_run_metric_chunks(run.id)
    if page is None:  # this backend: each key through get_metric_columns_page
        return
    got: dict[str, list[tuple[float, int, int]]] = {}
    pages = [page]
    while page.next_page_token is not None:
        page = metadata_store.get_run_metric_chunks(run.id, page_token=page.next_page_token)
        assert page is not None
        pages.append(page)
    assert len(pages) == 3 and all(len(p.chunks) <= METRIC_CHUNKS_PER_PAGE for p in pages)
    for p in pages:
        for chunk in p.chunks:
            points = zip(np.asarray(chunk.values).tolist(), chunk.steps, chunk.timestamps, strict=True)
            got.setdefault(chunk.key, []).extend((v, int(s), int(t)) for v, s, t in points)

    def nan_free(points: list[tuple[float, int, int]]) -> list[tuple[object, int, int]]:
        return [("nan" if v != v else v, s, t) for v, s, t in points]

    assert {k: nan_free(v) for k, v in got.items()} == {k: nan_free(v) for k, v in logged.items()}
    with pytest.raises(InvalidInputError):
        metadata_store.get_run_metric_chunks(run.id, page_token="nope")
    with pytest.raises(NotFoundError):
        metadata_store.get_run_metric_chunks("0" * 32)
