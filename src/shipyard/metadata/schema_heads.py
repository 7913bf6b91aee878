"""The metadata schema's head revisions, read from the migration files with the standard library.

Both :func:`shipyard.metadata.sql.migrate.ensure_schema` (the schema is current: skip alembic) and
the SQLite read path (:mod:`shipyard.metadata.sqlite_read`: the schema is current: plain SQL is
safe) compare a database's version table with :func:`declared_heads`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "sql" / "migrations"
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
