"""Revision 0021_branches: a plain CREATE TABLE; down drops it (0020 stays), up makes it again."""

from __future__ import annotations

from shipyard.metadata.branches import open_branch_store
from shipyard.metadata.sql import SqlMetadataStore
from tests.metadata.test_delivery_migration import _tables
from tests.metadata.test_migrations import _downgrade_to, db_url

__all__ = ["db_url"]  # the fixture, over SQLite and Postgres


def _one_branch(uri: str) -> str:
    store = SqlMetadataStore(uri)
    try:
        return open_branch_store(store).record("p", "b", by="u").namespace
    finally:
        store.close()


def test_0021_down_and_up(db_url: str) -> None:
    assert _one_branch(db_url) == "project:p/branch:b"
    _downgrade_to(db_url, "0020_machine_tokens")
    tables = _tables(db_url)
    assert "branches" not in tables and "deploy_sync" in tables
    assert _one_branch(db_url) == "project:p/branch:b"  # back to head: 0021 runs again
