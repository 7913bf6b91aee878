"""The embedded online store: one SQLite table (WAL mode), keyed by (view, entity)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from shipyard.features.online.base import OnlineStore, Record, encode_values

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS online_features (view TEXT NOT NULL, entity TEXT NOT NULL, "
    "event_us INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (view, entity)) WITHOUT ROWID"
)
_UPSERT = (
    "INSERT INTO online_features (view, entity, event_us, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (view, entity) DO UPDATE SET event_us = excluded.event_us, data = excluded.data "
    "WHERE excluded.event_us >= online_features.event_us"
)
_MARKS = (
    "CREATE TABLE IF NOT EXISTS online_watermarks (view TEXT PRIMARY KEY, until_us INTEGER NOT NULL, "
    "at_us INTEGER NOT NULL)"
)
_ONE = "SELECT event_us, data FROM online_features WHERE view = ? AND entity = ?"
_CHUNK = 100_000
_IN_LIMIT = 500


class SqliteOnlineStore(OnlineStore):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.uri = f"sqlite:///{path}"
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self._conn.execute(_MARKS)

    def write(self, view: str, records: Iterable[Record]) -> int:
        rows = ((view, key, event_us, encode_values(values)) for key, event_us, values in records)
        total = 0
        with self._lock:
            while chunk := list(islice(rows, _CHUNK)):
                # in key order, the B-tree grows at its edge instead of splitting pages at random
                # (a stable sort: a key's records keep their order, so the newest-wins rule holds)
                chunk.sort(key=itemgetter(1))
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(_UPSERT, chunk)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
                total += len(chunk)
        return total

    def read(self, view: str, keys: Sequence[str]) -> list[tuple[int, dict[str, Any]] | None]:
        if len(keys) == 1:  # the serving path: one entity, one indexed lookup
            with self._lock:
                row = self._conn.execute(_ONE, (view, keys[0])).fetchone()
            return [None if row is None else (row[0], orjson.loads(row[1]))]
        found: dict[str, tuple[int, dict[str, Any]]] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), _IN_LIMIT):
                part = unique[start : start + _IN_LIMIT]
                marks = ",".join("?" * len(part))
                query = f"SELECT entity, event_us, data FROM online_features WHERE view = ? AND entity IN ({marks})"  # noqa: E501
                for entity, event_us, data in self._conn.execute(query, (view, *part)):
                    found[entity] = (event_us, orjson.loads(data))
        return [found.get(key) for key in keys]

    def delete_view(self, view: str) -> int:
        with self._lock:
            cursor = self._conn.execute("DELETE FROM online_features WHERE view = ?", (view,))
            self._conn.execute("DELETE FROM online_watermarks WHERE view = ?", (view,))
            return cursor.rowcount

    def set_watermark(self, view: str, until_us: int, at_us: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO online_watermarks VALUES (?, ?, ?) ON CONFLICT (view) DO UPDATE "
                "SET until_us = excluded.until_us, at_us = excluded.at_us",
                (view, until_us, at_us),
            )

    def watermark(self, view: str) -> tuple[int, int] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT until_us, at_us FROM online_watermarks WHERE view = ?", (view,)
            ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
