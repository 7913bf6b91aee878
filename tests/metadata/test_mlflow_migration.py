"""Revision 0023_mlflow: plain CREATE TABLEs; down drops them (runs stay), up makes them again."""

from __future__ import annotations

from shipyard.metadata.mlflow_compat import open_mlflow_store
from shipyard.metadata.sql import SqlMetadataStore
from tests.metadata.test_delivery_migration import _tables
from tests.metadata.test_migrations import _downgrade_to, db_url

__all__ = ["db_url"]  # the fixture, over SQLite and Postgres


def _experiment(uri: str, name: str) -> str:
    store = SqlMetadataStore(uri)
    try:
        return open_mlflow_store(store).create_experiment(name, tags={"k": "v"}, now_ms=1).id
    finally:
        store.close()


def test_0023_down_and_up(db_url: str) -> None:
    assert _experiment(db_url, "first") != "0"
    _downgrade_to(db_url, "0021_branches")
    tables = _tables(db_url)
    assert not {t for t in tables if t.startswith("mlflow_")} and "runs" in tables
    assert _experiment(db_url, "again") != "0"  # back to head: 0023 runs again
