"""SQLite specifics: connection settings, NaN encoding, in-memory databases."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import text

from shipyard.core.entities import Metric, RunCreate
from shipyard.metadata.sql import SqlMetadataStore


def _run(store: SqlMetadataStore, run_id: str = "r1") -> None:
    store.create_run(RunCreate(run_id, "n", "user:a", "a", datetime(2024, 1, 1, tzinfo=UTC)))


def test_connection_settings(tmp_path: Path) -> None:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with store._read() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    finally:
        store.close()


def test_latest_nan_is_null_and_inf_is_inf_and_history_keeps_both(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    store = SqlMetadataStore(f"sqlite:///{path}")
    try:
        _run(store)
        store.log_metrics("r1", [Metric("a", math.nan, 0, 0), Metric("b", math.inf, 0, 0)])
    finally:
        store.close()
    with sqlite3.connect(path) as raw:
        latest = dict(raw.execute("SELECT key, value FROM latest_metrics").fetchall())
        chunks = dict(raw.execute('SELECT key, "values" FROM metric_chunks').fetchall())
    raw.close()
    assert latest == {"a": None, "b": math.inf}  # NULL never satisfies a filter comparison
    assert math.isnan(np.frombuffer(chunks["a"], dtype="<f8")[0])
    assert np.frombuffer(chunks["b"], dtype="<f8").tolist() == [math.inf]


def test_in_memory_database_works_across_threads() -> None:
    import threading

    store = SqlMetadataStore("sqlite://")
    try:
        _run(store)

        def log(i: int) -> None:
            store.log_metrics("r1", [Metric("m", float(i), i, 0)])

        threads = [threading.Thread(target=log, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store.get_metric_history("r1", "m")) == 8
        assert store.get_run("r1").metrics == {"m": 7.0}
    finally:
        store.close()


def test_close_is_idempotent_and_later_calls_fail_clearly(tmp_path: Path) -> None:
    import pytest

    from shipyard.core.errors import StorageError

    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'x.db'}")
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.get_run("r1")


def test_a_file_that_is_not_a_database_is_a_configuration_error(tmp_path: Path) -> None:
    import pytest

    from shipyard.core.errors import ConfigurationError

    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigurationError, match="cannot open the metadata database"):
        SqlMetadataStore(f"sqlite:///{path}")
