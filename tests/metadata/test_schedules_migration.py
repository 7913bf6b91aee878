"""Revision 0017_schedules: a plain CREATE TABLE; down drops it, up creates it again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, inspect

from shipyard.metadata.schedules import ScheduleClaim, open_schedule_store
from shipyard.metadata.sql import SqlMetadataStore
from shipyard.metadata.sql.engine import normalize_url
from tests.metadata.test_migrations import _downgrade_to, db_url

__all__ = ["db_url"]  # the fixture, over SQLite and Postgres

AT = datetime(2024, 1, 1, tzinfo=UTC)


def _tables(uri: str) -> set[str]:
    engine = create_engine(normalize_url(uri))
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_0017_down_and_up(db_url: str) -> None:
    store = SqlMetadataStore(db_url)
    try:
        assert open_schedule_store(store).claim(ScheduleClaim("f", "cron:* * * * *", 1, "fire", AT, "a"))
    finally:
        store.close()
    _downgrade_to(db_url, "0016_dataset_manifests")
    assert "schedule_claims" not in _tables(db_url)
    store = SqlMetadataStore(db_url)  # back to head: 0017 runs again
    try:
        claims = open_schedule_store(store)
        assert claims.last_position("f", "cron:* * * * *") is None
        assert claims.claim(ScheduleClaim("f", "cron:* * * * *", 1, "fire", AT, "a"))
        assert not claims.claim(ScheduleClaim("f", "cron:* * * * *", 1, "fire", AT, "b"))
    finally:
        store.close()
