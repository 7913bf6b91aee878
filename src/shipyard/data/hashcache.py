"""The local file-hash cache: (path, size, mtime, inode) -> sha256, so re-snapshotting a file that
did not change reads nothing (what makes an unchanged re-snapshot of a large dataset instant).

One SQLite file in the shipyard home (``<home>/cache/file-hashes.db``) with one row per
snapshotted root: its files' (relative path, size, mtime ns, inode, digest) as zlib-compressed
JSON, replaced whole after each snapshot of that root (one row, not one per file: 100,000 files
cost a fraction of a second). An entry is used only when the file's size, modification time (ns)
and inode all still match, and only as a hint: the digest is then trusted only if the content
store holds that blob. A row that cannot be read is ignored (the files are hashed again). WAL
mode without a sync per commit: a crash may lose the last rows, never corrupt the file.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path

Stamp = tuple[int, int, int]  # size, mtime_ns, inode


class HashCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS roots (root TEXT PRIMARY KEY, entries BLOB)")

    def under(self, root: Path) -> dict[str, tuple[Stamp, str]]:
        """What the last snapshot of ``root`` remembered: relative path -> (stamp, digest)."""
        row = self._db.execute("SELECT entries FROM roots WHERE root = ?", (str(root),)).fetchone()
        if row is None:
            return {}
        try:
            return {rel: ((s, m, i), d) for rel, s, m, i, d in json.loads(zlib.decompress(row[0]))}
        except (zlib.error, ValueError, TypeError):
            return {}

    def remember(self, root: Path, entries: Iterable[tuple[str, Stamp, str]]) -> None:
        """Replace what ``root`` remembers with ``entries`` (relative path, stamp, digest)."""
        rows = [(rel, *stamp, digest) for rel, stamp, digest in entries]
        blob = zlib.compress(json.dumps(rows, separators=(",", ":")).encode(), 1)
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO roots VALUES (?, ?)", (str(root), blob))

    def close(self) -> None:
        self._db.close()
