"""Revision 0020_machine_tokens: ``api_tokens.actions`` is added; down drops it (the tokens stay),
up adds it again and a machine token's actions round-trip."""

from __future__ import annotations

from shipyard.metadata.security import open_security_store
from shipyard.metadata.sql import SqlMetadataStore
from shipyard.server.accounts import issue_token
from tests.metadata.test_migrations import _downgrade_to, db_url

__all__ = ["db_url"]  # the fixture, over SQLite and Postgres


def _columns(uri: str) -> set[str]:
    import sqlalchemy as sa

    from shipyard.metadata.sql.engine import normalize_url

    engine = sa.create_engine(normalize_url(uri))
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns("api_tokens")}
    finally:
        engine.dispose()


def _machine_token(uri: str) -> tuple[str, ...] | None:
    store = SqlMetadataStore(uri)
    try:
        security = open_security_store(store)
        from shipyard.server.accounts import add_user

        if not any(u.name == "ci" for u in security.list_users()):
            add_user(security, "ci", None, by="test", kind="service")
        _, record = issue_token(
            security,
            "ci",
            "gh",
            scope="project:fraud/env:staging",
            permissions=("deploy:apply",),
            actions=("apply",),
        )
        return security.get_token(record.id).actions
    finally:
        store.close()


def test_0020_down_and_up(db_url: str) -> None:
    assert _machine_token(db_url) == ("apply",)
    _downgrade_to(db_url, "0019_sync")
    assert "actions" not in _columns(db_url) and "scope" in _columns(db_url)
    assert _machine_token(db_url) == ("apply",)  # back to head: 0020 runs again
