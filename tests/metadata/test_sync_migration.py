"""Revision 0019_sync: a plain CREATE TABLE; down drops it (the delivery tables stay), up makes it again."""

from __future__ import annotations

from shipyard.metadata.delivery import SyncReport, open_delivery_store
from shipyard.metadata.sql import SqlMetadataStore
from tests.metadata.test_delivery_migration import _tables
from tests.metadata.test_migrations import _downgrade_to, db_url

__all__ = ["db_url"]  # the fixture, over SQLite and Postgres


def _one_status(uri: str) -> str:
    store = SqlMetadataStore(uri)
    try:
        delivery = open_delivery_store(store)
        return delivery.record_sync("p", "e", SyncReport(status="synced"), by="u").status
    finally:
        store.close()


def test_0019_down_and_up(db_url: str) -> None:
    assert _one_status(db_url) == "synced"
    _downgrade_to(db_url, "0018_delivery")
    tables = _tables(db_url)
    assert "deploy_sync" not in tables and "deploy_releases" in tables
    assert _one_status(db_url) == "synced"  # back to head: 0019 runs again
