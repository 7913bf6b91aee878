"""Alembic migrations: applied on first use, in step with schema.py, refusing newer databases."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from shipyard.core.errors import SchemaVersionError
from shipyard.metadata import open_metadata_store
from shipyard.metadata.sql import SqlMetadataStore
from shipyard.metadata.sql.engine import normalize_url
from shipyard.metadata.sql.migrate import (
    INITIAL_REVISION,
    MIGRATIONS_DIR,
    VERSION_TABLE,
    head_revisions,
    script_directory,
)
from shipyard.metadata.sql.schema import metadata

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'dir' / 'm.db'}"
    uri, _ = request.getfixturevalue("postgres_schema")
    return str(uri)


def test_first_revision_is_0001_initial() -> None:
    assert INITIAL_REVISION == "0001_initial"
    assert script_directory().get_base() == "0001_initial"
    assert (MIGRATIONS_DIR / "env.py").is_file()


def test_migrations_are_applied_on_first_use(db_url: str) -> None:
    store = open_metadata_store(db_url)
    store.close()
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            assert tuple(ctx.get_current_heads()) == head_revisions()
            tables = set(inspect(conn).get_table_names())
        assert set(metadata.tables) <= tables
    finally:
        engine.dispose()
    open_metadata_store(db_url).close()  # a second open is a no-op


def test_models_and_migrations_do_not_drift(db_url: str) -> None:
    open_metadata_store(db_url).close()
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            diffs = compare_metadata(ctx, metadata)
    finally:
        engine.dispose()
    assert diffs == [], f"schema.py and the migrations differ; add a migration: {diffs}"


def test_newer_schema_revision_is_a_clear_error(db_url: str) -> None:
    open_metadata_store(db_url).close()
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0099_from_the_future'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaVersionError) as info:
        open_metadata_store(db_url)
    message = str(info.value)
    assert "0099_from_the_future" in message and head_revisions()[-1] in message
    assert "newer than this shipyard" in message and "upgrade shipyard" in message


def test_threads_opening_a_new_database_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    errors: list[BaseException] = []
    stores: list[SqlMetadataStore] = []
    lock = threading.Lock()

    def open_one() -> None:
        try:
            store = SqlMetadataStore(url)
            with lock:
                stores.append(store)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.close()
    assert errors == []
    assert len(stores) == 6


def test_processes_opening_a_new_database_at_once(db_url: str) -> None:
    code = (
        "import sys; from shipyard.metadata import open_metadata_store; "
        "open_metadata_store(sys.argv[1]).close()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    open_metadata_store(db_url).close()


def test_migrations_ship_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["shipyard"]
    assert "metadata/sql/migrations/versions/*.py" in patterns
    assert "metadata/sql/migrations/*.mako" in patterns
    assert (MIGRATIONS_DIR / "__init__.py").is_file() and (
        MIGRATIONS_DIR / "versions" / "__init__.py"
    ).is_file()


def test_declared_heads_agree_with_alembic() -> None:
    from shipyard.metadata.sql.migrate import declared_heads

    assert declared_heads() == head_revisions()


def test_opening_a_current_database_does_not_import_alembic(tmp_path: Path) -> None:
    """The fast path: a schema already at head is checked with one plain query (and opening a
    store never imports numpy: the metric chunk codec loads it on first use)."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'fast.db'}"
    code = (
        "import sys\n"
        "from shipyard.metadata import open_metadata_store\n"
        f"open_metadata_store({url!r}).close()\n"
        "print('alembic' in sys.modules, 'numpy' in sys.modules)\n"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert first.stdout.split()[0] == "True"  # a new database is migrated with alembic
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert second.stdout.split() == ["False", "False"]


def test_metric_points_survive_the_move_to_chunks_and_back(db_url: str) -> None:
    """0005 turns one-row-per-point ``metrics`` into ``metric_chunks``; its downgrade turns them back.
    Down then up again must give every point back, in order, NaN and ties included."""
    from datetime import UTC, datetime

    from alembic import command

    from shipyard.core.entities import Metric, RunCreate
    from shipyard.metadata.sql.migrate import alembic_config

    points = [Metric("loss", float(10 - i), i, 1000 + i) for i in range(10)]
    points += [Metric("loss", math.nan, 3, 5), Metric("loss", -1.0, 3, 5), Metric("acc", math.inf, 0, 1)]
    store = SqlMetadataStore(db_url)
    try:
        store.create_run(RunCreate("r1", "n", "user:a", "a", datetime(2024, 1, 1, tzinfo=UTC)))
        store.log_metrics("r1", points[:6])
        store.log_metrics("r1", points[6:])
        before = {k: store.get_metric_history("r1", k) for k in ("loss", "acc")}
    finally:
        store.close()
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0004_monitoring")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key, value, step FROM metrics ORDER BY id")).all()
            assert "metric_chunks" not in inspect(conn).get_table_names()
    finally:
        engine.dispose()
    assert len(rows) == len(points) and sum(r.value is None for r in rows) == 1  # NaN as NULL there
    store = SqlMetadataStore(db_url)  # upgrades to head again: the points move back into chunks
    try:
        after = {k: store.get_metric_history("r1", k) for k in ("loss", "acc")}
    finally:
        store.close()
    assert [(m.value, m.step, m.timestamp) for m in after["loss"] if m.value == m.value] == [
        (m.value, m.step, m.timestamp) for m in before["loss"] if m.value == m.value
    ]
    nan_at = [i for i, m in enumerate(after["loss"]) if math.isnan(m.value)]
    assert nan_at == [i for i, m in enumerate(before["loss"]) if math.isnan(m.value)] and nan_at
    assert [m.step for m in after["loss"]] == sorted(m.step for m in points if m.key == "loss")
    assert after["acc"] == before["acc"] == [Metric("acc", math.inf, 0, 1)]


def _columns(db_url: str, table: str) -> set[str]:
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            return {c["name"] for c in inspect(conn).get_columns(table)}
    finally:
        engine.dispose()


def _downgrade_to(db_url: str, revision: str) -> None:
    from alembic import command

    from shipyard.metadata.sql.migrate import alembic_config

    engine = create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def _seed_names(db_url: str) -> None:
    """A model 'fraud' (with its protected 'champion'), an alias 'candidate' and a user 'admin'."""
    from datetime import UTC, datetime

    from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store
    from shipyard.metadata.security import open_security_store

    at = datetime(2024, 1, 1, tzinfo=UTC)
    store = SqlMetadataStore(db_url)
    try:
        registry = open_registry_store(store)
        registry.create_version(ModelVersionCreate("fraud", "a" * 64, 1, "sklearn", "alice", at))
        registry.set_alias("fraud", "candidate", 1, user="alice", at=at)
        open_security_store(store).create_user("admin", at)
    finally:
        store.close()


def test_canonical_names_go_away_on_downgrade_and_are_backfilled_on_upgrade(db_url: str) -> None:
    """0006 adds ``canonical`` (unique) to models, aliases and users; down drops it, up fills it
    from the names already stored, and look-alikes are refused again afterwards."""
    from datetime import UTC, datetime

    from shipyard.core.errors import AlreadyExistsError
    from shipyard.metadata.model_registry import open_registry_store
    from shipyard.metadata.security import open_security_store

    _seed_names(db_url)
    _downgrade_to(db_url, "0005_metric_chunks")
    for table in ("registered_models", "model_aliases", "users"):
        assert "canonical" not in _columns(db_url, table)
    store = SqlMetadataStore(db_url)  # back to head
    try:
        engine = create_engine(normalize_url(db_url))
        try:
            with engine.connect() as conn:
                models = conn.execute(text("SELECT name, canonical FROM registered_models")).all()
                aliases = conn.execute(
                    text("SELECT alias, canonical FROM model_aliases ORDER BY alias")
                ).all()
                users = conn.execute(text("SELECT name, canonical FROM users")).all()
        finally:
            engine.dispose()
        assert [tuple(r) for r in models] == [("fraud", "fraud")]
        assert [tuple(r) for r in aliases] == [("candidate", "candidate"), ("champion", "champion")]
        assert [tuple(r) for r in users] == [("admin", "admin")]
        at = datetime(2024, 1, 2, tzinfo=UTC)
        with pytest.raises(AlreadyExistsError, match="looks like the existing model 'fraud'"):
            open_registry_store(store).create_model("Fraud", user="mallory", at=at)
        with pytest.raises(AlreadyExistsError, match="looks like its existing alias 'champion'"):
            open_registry_store(store).set_alias("fraud", "Champion", 1, user="mallory", at=at)
        with pytest.raises(AlreadyExistsError, match="looks like the existing user 'admin'"):
            open_security_store(store).create_user("Admin", at)
    finally:
        store.close()


def test_upgrade_stops_on_stored_look_alikes_and_names_them(db_url: str) -> None:
    """Names that already collide are never merged: the upgrade stops before changing anything,
    listing each group, and goes through once they are renamed or deleted."""
    from shipyard.core.errors import ConflictError

    _seed_names(db_url)
    _downgrade_to(db_url, "0005_metric_chunks")
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO registered_models (name, description, created_at, updated_at, created_by, "
                    "last_version) VALUES ('Fraud ', '', 0, 0, 'mallory', 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO model_aliases (model_name, alias, version, protected, updated_by, "
                    "updated_at) VALUES ('fraud', 'Champion', 1, false, 'mallory', 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO users (name, role, created_at, disabled) VALUES ('Admin', 'admin', 0, false)"
                )
            )
        with pytest.raises(ConflictError) as info:
            SqlMetadataStore(db_url)
        message = str(info.value)
        assert "0006_canonical_names" in message and "\n" not in message
        assert "registered models 'Fraud ', 'fraud'" in message
        assert "aliases 'Champion', 'champion' of model 'fraud'" in message
        assert "users 'Admin', 'admin'" in message
        assert "rename or delete all but one" in message
        for table in ("registered_models", "model_aliases", "users"):
            assert "canonical" not in _columns(db_url, table)  # nothing changed
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            assert ctx.get_current_heads() == ("0005_metric_chunks",)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM registered_models WHERE name = 'Fraud '"))
            conn.execute(text("DELETE FROM model_aliases WHERE alias = 'Champion'"))
            conn.execute(text("DELETE FROM users WHERE name = 'Admin'"))
    finally:
        engine.dispose()
    SqlMetadataStore(db_url).close()
    assert "canonical" in _columns(db_url, "users")


def test_roles_become_bindings_and_tokens_survive_0007(db_url: str) -> None:
    """0007 turns each user's one role into a binding at '*' (reader -> viewer, writer ->
    developer) without a table rebuild (which, on SQLite with foreign keys on, would cascade-delete
    every token); its downgrade gives the roles back."""
    SqlMetadataStore(db_url).close()  # a database at head
    _downgrade_to(db_url, "0006_canonical_names")
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:
            for name, role in (("rita", "reader"), ("wes", "writer"), ("root", "admin")):
                conn.execute(
                    text(
                        "INSERT INTO users (name, canonical, role, created_at, disabled) "
                        "VALUES (:n, :n, :r, 0, false)"
                    ),
                    {"n": name, "r": role},
                )
            conn.execute(
                text(
                    'INSERT INTO api_tokens (id, "user", name, token_hash, prefix, created_at) '
                    "VALUES ('t1', 'wes', 'ci', :h, 'shp_x', 0)"
                ),
                {"h": "b" * 64},
            )
        store = SqlMetadataStore(db_url)  # to head: 0007 runs
        try:
            from shipyard.metadata.security import open_security_store

            security = open_security_store(store)
            found = security.find_token("b" * 64)
            assert found is not None and found[1].name == "wes" and found[1].kind == "user"
            assert security.access_rows("wes")[0] == [("developer", "*")]
            assert security.access_rows("rita")[0] == [("viewer", "*")]
        finally:
            store.close()
        _downgrade_to(db_url, "0006_canonical_names")
        with engine.connect() as conn:
            roles = dict(conn.execute(text("SELECT name, role FROM users")).all())
            tokens = conn.execute(text("SELECT id FROM api_tokens")).scalars().all()
        assert roles == {"rita": "reader", "wes": "writer", "root": "admin"} and tokens == ["t1"]
    finally:
        engine.dispose()


def _dump(path: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return sorted(conn.iterdump())


def test_a_new_sqlite_database_from_the_template_equals_one_migrated_step_by_step(tmp_path: Path) -> None:
    from alembic import command

    from shipyard.metadata.sql.migrate import alembic_config, sqlite_template

    open_metadata_store(f"sqlite:///{tmp_path / 'template.db'}").close()  # a new file: the template
    engine = create_engine(f"sqlite:///{tmp_path / 'stepwise.db'}")
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(alembic_config(conn), "heads")
    finally:
        engine.dispose()

    assert _dump(tmp_path / "template.db") == _dump(tmp_path / "stepwise.db")
    assert any(line.startswith("CREATE TABLE") for line in sqlite_template())
    reopened = SqlMetadataStore(f"sqlite:///{tmp_path / 'template.db'}")  # current: nothing to do
    reopened.close()


def test_the_template_is_not_applied_over_an_existing_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE unrelated (x INTEGER)"))
    finally:
        engine.dispose()
    open_metadata_store(f"sqlite:///{path}").close()  # migrated step by step next to its table
    assert any("unrelated" in line for line in _dump(path))
    assert any(VERSION_TABLE in line for line in _dump(path))
