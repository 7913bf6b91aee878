"""Resolving a registered model version from a local SQLite metadata database with ``sqlite3``.

The SQL store (:mod:`shipyard.metadata.sql`) imports SQLAlchemy: about half a second of every
fresh process that loads a model. :class:`SqliteVersionReader` answers the one question loading
asks (which package does ``models:/NAME/N``, ``@ALIAS`` or ``latest`` name) with plain SQL, as
:mod:`shipyard.metadata.sql.version_lookup` does with SQLAlchemy.

It only reads a database it can trust to have the expected layout: :meth:`SqliteVersionReader.open`
returns ``None`` (use the full store) when the file is missing or unreadable, or when its schema
revision is not this code's head (an older database the full store would migrate, or a newer one it
would refuse). Every miss (no such model, version or alias) is ``None`` too: the full store then
answers with its precise error. All reads of one reader see one snapshot (a read transaction).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from shipyard.metadata.schema_heads import open_current_snapshot


@dataclass(frozen=True)
class VersionPackage:
    """A registered version and the package it points at (content address and size)."""

    model_name: str
    version: int
    package_digest: str
    package_size: int


class SqliteVersionReader:
    """Read-only version lookups on one SQLite metadata database (see the module doc)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, path: Path) -> SqliteVersionReader | None:
        """A reader of the database at ``path``, or None when the full store must be used."""
        conn = open_current_snapshot(path)
        return None if conn is None else cls(conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SqliteVersionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self, name: str, version: int) -> VersionPackage | None:
        """Version ``version`` of model ``name``, or None when there is none."""
        row = self._conn.execute(
            "SELECT model_name, version, package_digest, package_size FROM model_versions "
            "WHERE model_name = ? AND version = ?",
            (name, version),
        ).fetchone()
        if row is None:
            return None
        return VersionPackage(str(row[0]), int(row[1]), str(row[2]), int(row[3]))

    def alias(self, name: str, alias: str) -> VersionPackage | None:
        """The version alias ``alias`` of model ``name`` points at, or None (no model, no alias,
        or an alias that points at no version)."""
        row = self._conn.execute(
            "SELECT version FROM model_aliases WHERE model_name = ? AND alias = ?", (name, alias)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return self.version(name, int(row[0]))

    def latest(self, name: str) -> VersionPackage | None:
        """The highest version of model ``name``, or None when it has none (or does not exist)."""
        row = self._conn.execute(
            "SELECT max(version) FROM model_versions WHERE model_name = ?", (name,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return self.version(name, int(row[0]))
