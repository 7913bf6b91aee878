"""Reads batch-load what they return: no N+1 queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from shipyard.core.entities import Metric, RunCreate
from shipyard.metadata.sql import SqlMetadataStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    s = SqlMetadataStore(f"sqlite:///{tmp_path / 'q.db'}")
    for i in range(60):
        run_id = f"run{i:04d}"
        s.create_run(
            RunCreate(
                run_id,
                f"r{i}",
                "user:a",
                "a",
                T0 + timedelta(seconds=i),
                params={"p": i, "q": "x"},
                tags={"t": str(i)},
            )
        )
        s.log_metrics(run_id, [Metric("acc", i / 60), Metric("loss", 1 - i / 60)])
    yield s
    s.close()


def _count(store: SqlMetadataStore) -> list[str]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE")):
            statements.append(statement)

    event.listen(store._engine, "before_cursor_execute", record)
    return statements


def test_search_runs_loads_a_page_in_four_queries(store: SqlMetadataStore) -> None:
    statements = _count(store)
    page = store.search_runs(
        filter="metrics.acc > 0.1 and params.q = 'x'", order_by=["metrics.loss"], max_results=50
    )
    assert len(page.runs) == 50 and all(r.params and r.tags and r.metrics for r in page.runs)
    assert len(statements) == 4, statements  # runs page, params, tags, latest metrics


def test_get_run_is_a_handful_of_queries(store: SqlMetadataStore) -> None:
    statements = _count(store)
    store.get_run("run0007")
    assert len(statements) == 4, statements


def test_log_metrics_is_one_short_transaction(store: SqlMetadataStore) -> None:
    statements = _count(store)
    store.log_metrics("run0001", [Metric(f"k{i % 7}", float(i), i) for i in range(5000)])
    assert len(statements) == 3, statements  # run exists?, bulk insert, latest upsert
