"""``shipyard backup DEST``: a consistent copy of the SQLite metadata database while a writer runs."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.clock import utcnow
from shipyard.core.entities import Metric, RunCreate
from shipyard.metadata.sql import SqlMetadataStore

BATCH = 25  # the writer logs metrics in batches of this many, one transaction each


def _copy_metrics(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    store = SqlMetadataStore(f"sqlite:///{path}")  # the copy opens as a shipyard database
    try:
        (run,) = store.search_runs(namespaces=None).runs
        history = store.get_metric_history(run.id, "loss")
    finally:
        store.close()
    return len(history)


def test_backup_under_a_running_writer_is_consistent(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "home" / "shipyard.db"
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHIPYARD_URI", raising=False)
    store = SqlMetadataStore(f"sqlite:///{db}")
    run = store.create_run(
        RunCreate(id=uuid.uuid4().hex, name="r", namespace="user:me", user="me", start_time=utcnow())
    )
    stop, batches = threading.Event(), [0]

    def writer() -> None:
        step = 0
        while not stop.is_set():
            store.log_metrics(run.id, [Metric("loss", float(step + i), step + i, 0) for i in range(BATCH)])
            step += BATCH
            batches[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while batches[0] < 5:
            threading.Event().wait(0.01)
        result = cli("backup", str(tmp_path / "copy.db"))
        written_before_end = batches[0]
        second = cli("backup", str(tmp_path))  # a folder: a new file named by the time
    finally:
        stop.set()
        thread.join()
        store.close()
    assert result.code == 0, result.err
    assert "copy.db" in result.out and "artifacts" in result.out
    points = _copy_metrics(tmp_path / "copy.db")
    assert points > 0 and points % BATCH == 0  # whole transactions only, never half a batch
    assert points <= written_before_end * BATCH
    assert second.code == 0, second.err
    (made,) = tmp_path.glob("shipyard-*.db")
    assert _copy_metrics(made) % BATCH == 0
    assert not list(tmp_path.glob(".*partial"))


def test_backup_never_overwrites_and_explains_postgres(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHIPYARD_URI", raising=False)
    SqlMetadataStore(f"sqlite:///{tmp_path / 'home' / 'shipyard.db'}").close()
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"keep me")
    refused = cli("backup", str(taken))
    assert refused.code == 1 and "already exists" in refused.err
    assert taken.read_bytes() == b"keep me"
    monkeypatch.setenv("SHIPYARD_URI", "postgresql://someone@db.invalid/shipyard")
    pg = cli("backup", str(tmp_path / "x.db"))
    assert pg.code == 1 and "pg_dump" in pg.err
    assert len(pg.err.strip().splitlines()) == 1
