"""Revision 0010_model_projects adds ``registered_models.project`` with a plain ALTER TABLE: going
down and up again keeps every model, version, alias and tag (a batch rebuild of the table would,
on SQLite with foreign keys on, cascade-delete the versions)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, inspect, text

from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store
from shipyard.metadata.sql import SqlMetadataStore
from shipyard.metadata.sql.engine import normalize_url
from tests.metadata.test_migrations import _downgrade_to, db_url

__all__ = ["db_url"]  # the fixture, over SQLite and Postgres

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _columns(db_url: str) -> set[str]:
    engine = create_engine(normalize_url(db_url))
    try:
        return {c["name"] for c in inspect(engine).get_columns("registered_models")}
    finally:
        engine.dispose()


def test_models_and_versions_survive_0010_down_and_up(db_url: str) -> None:
    store = SqlMetadataStore(db_url)
    try:
        registry = open_registry_store(store)
        registry.create_model("fraud", user="alice", at=T0, project="fraud", tags={"team": "risk"})
        for _ in range(2):
            registry.create_version(
                ModelVersionCreate("fraud", "a" * 64, 1, "sklearn", "alice", T0, tags={"k": "v"})
            )
        registry.set_approval("fraud", 1, True, user="bob", at=T0)
        registry.set_alias("fraud", "champion", 1, user="bob", at=T0)
    finally:
        store.close()
    _downgrade_to(db_url, "0009_login")
    assert "project" not in _columns(db_url)
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM model_versions")).scalar_one() == 2
    finally:
        engine.dispose()
    store = SqlMetadataStore(db_url)  # back to head: 0010 runs again
    try:
        registry = open_registry_store(store)
        model = registry.get_model("fraud")
        assert model.project is None  # the project went with the column; the model stays
        assert model.tags == {"team": "risk"} and model.aliases == {"champion": 1}
        versions = registry.list_versions("fraud")
        assert [v.version for v in versions] == [1, 2] and versions[0].tags == {"k": "v"}
        assert [e.action for e in registry.alias_history("fraud")] == ["set"]
    finally:
        store.close()
    assert "project" in _columns(db_url)
