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
