"""Revision 0018_delivery: plain CREATE TABLEs; down drops them, up creates them again."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from shipyard.metadata.delivery import ObjectState, ReleaseDraft, open_delivery_store
from shipyard.metadata.sql import SqlMetadataStore
from shipyard.metadata.sql.engine import normalize_url
from tests.metadata.test_migrations import _downgrade_to, db_url

__all__ = ["db_url"]  # the fixture, over SQLite and Postgres

TABLES = {"deploy_objects", "deploy_releases", "deploy_locks"}


def _tables(uri: str) -> set[str]:
    engine = create_engine(normalize_url(uri))
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _one_release(uri: str) -> int:
    store = SqlMetadataStore(uri)
    try:
        delivery = open_delivery_store(store)
        delivery.acquire_lock("p", "e", owner="o", by="u")
        begun = delivery.begin_release(
            "p", "e", ReleaseDraft("a" * 64, {}), owner="o", by="u", put=[ObjectState("service", "api", {})]
        )
        return delivery.finish_release("p", "e", begun.number, owner="o", outcome="applied").number
    finally:
        store.close()


def test_0018_down_and_up(db_url: str) -> None:
    assert _one_release(db_url) == 1
    _downgrade_to(db_url, "0017_schedules")
    assert not TABLES & _tables(db_url)
    assert _one_release(db_url) == 1  # back to head: 0018 runs again, on empty tables
