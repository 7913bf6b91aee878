"""The metadata schema's head revisions, read from the migration files with the standard library.

Both :func:`shipyard.metadata.sql.migrate.ensure_schema` (the schema is current: skip alembic) and
the SQLite read path (:mod:`shipyard.metadata.sqlite_read`: the schema is current: plain SQL is
safe) compare a database's version table with :func:`declared_heads`.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "sql" / "migrations"
BUSY_TIMEOUT_S = 30.0  # as the SQL store waits for a writer's lock
VERSION_TABLE = "shipyard_schema_version"
_REV_RE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


@functools.cache
def declared_heads() -> tuple[str, ...]:
    """The head revisions, read from the version files' ``revision``/``down_revision`` lines.

    Importing alembic and parsing every script costs hundreds of milliseconds at each store open;
    this plain read lets the common case (schema already current) skip alembic entirely. A test
    checks it agrees with alembic's own view.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for kind, value in _REV_RE.findall(path.read_text(encoding="utf-8")):
            (revisions if kind == "revision" else parents).add(value)
    return tuple(sorted(revisions - parents))


def open_current_snapshot(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to the SQLite database at ``path`` inside one read transaction (one
    snapshot for every read that follows), or None when the full store must answer: no such file,
    it cannot be opened, or its schema is not at :func:`declared_heads` (plain SQL would be unsafe)."""
    if not path.is_file():
        return None
    from urllib.parse import quote

    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error:
        return None
    try:
        conn.isolation_level = None  # we issue BEGIN ourselves
        conn.execute("BEGIN")
        rows = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
        stored = tuple(sorted(str(r[0]) for r in rows))
    except sqlite3.Error:
        conn.close()
        return None
    if stored != declared_heads():
        conn.close()
        return None
    return conn
