"""A consistent copy of the metadata database, taken while servers and runs keep writing.

Copying ``shipyard.db`` alone is not a backup: in WAL mode the newest commits live in
``shipyard.db-wal`` until a checkpoint, and a file copied mid-write can be torn. :func:`backup_sqlite`
uses SQLite's online backup API instead: one snapshot of every committed page (the WAL included),
written to a temp file beside the destination, checked with ``PRAGMA integrity_check`` and then
renamed into place, so ``dest`` is either a whole, consistent database or absent.

Postgres is backed up with its own tool (``pg_dump``); :func:`backup_database` says so.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from shipyard.core.errors import InvalidInputError, StorageError
from shipyard.metadata.sql.engine import display_url, normalize_url


def backup_database(metadata_uri: str, dest: Path) -> Path:
    """Back up the SQLite metadata database at ``metadata_uri`` to ``dest`` (a new file, or a new
    file named after the time inside an existing folder); the path written."""
    if metadata_uri.lower().startswith(("http://", "https://")):
        raise InvalidInputError(
            f"SHIPYARD_URI is a server ({metadata_uri}); run `shipyard backup` on the server's machine, "
            "with the server's SHIPYARD_URI"
        )
    url = normalize_url(metadata_uri)
    if url.get_backend_name() != "sqlite":
        raise InvalidInputError(
            f"the metadata database at {display_url(url)} is Postgres: back it up with pg_dump, e.g. "
            "`pg_dump --format=custom --file shipyard.dump <database URL>` (consistent while servers "
            "write; restore with pg_restore)"
        )
    if not url.database or url.database == ":memory:":
        raise InvalidInputError("an in-memory database has nothing to back up")
    return backup_sqlite(Path(url.database), dest)


def backup_sqlite(source: Path, dest: Path) -> Path:
    if not source.is_file():
        raise InvalidInputError(f"no metadata database at {source}; check SHIPYARD_HOME or SHIPYARD_URI")
    if dest.is_dir():
        from shipyard.core.clock import utcnow

        dest = dest / f"shipyard-{utcnow().strftime('%Y%m%dT%H%M%SZ')}.db"
    if dest.exists():
        raise InvalidInputError(f"{dest} already exists; choose a new file name (a backup never overwrites)")
    if not dest.parent.is_dir():
        raise InvalidInputError(f"the folder {dest.parent} does not exist; create it first")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    try:
        src = sqlite3.connect(source, timeout=30)  # read-write: a WAL reader may need to make -shm
        try:
            out = sqlite3.connect(tmp)
            try:
                src.backup(out)  # one step: a snapshot of every committed page, WAL included
                problems = out.execute("PRAGMA integrity_check").fetchall()
                out.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
            finally:
                out.close()
        finally:
            src.close()
        if problems != [("ok",)]:
            raise StorageError(f"the backup of {source} failed its integrity check: {problems[:3]}")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot back up {source} to {dest}: {exc}") from None
    except OSError as exc:
        raise StorageError(f"cannot write the backup {dest}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return dest
