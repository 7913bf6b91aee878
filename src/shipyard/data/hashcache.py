"""The local file-hash cache: (path, size, mtime, inode) -> sha256, so re-snapshotting a file that
did not change reads nothing (what makes an unchanged re-snapshot of a large dataset instant).

One SQLite file in the shipyard home (``<home>/cache/file-hashes.db``). An entry is used only
when the file's size, modification time (ns) and inode all still match, and only as a hint: the
digest is then trusted only if the content store holds that blob.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

Stamp = tuple[int, int, int]  # size, mtime_ns, inode


def stamp_of(stat: os.stat_result) -> Stamp:
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


class HashCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, mtime INTEGER, "
            "ino INTEGER, digest TEXT)"
        )

    def under(self, root: Path) -> dict[str, tuple[Stamp, str]]:
        """Every entry for ``root`` itself or a path below it."""
        base = str(root)
        rows = self._db.execute(
            "SELECT path, size, mtime, ino, digest FROM hashes WHERE path = ? OR (path >= ? AND path < ?)",
            (base, base + os.sep, base + chr(ord(os.sep) + 1)),
        )
        return {p: ((s, m, i), d) for p, s, m, i, d in rows}

    def remember(self, entries: Iterable[tuple[str, Stamp, str]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)",
                [(p, s[0], s[1], s[2], d) for p, s, d in entries],
            )

    def close(self) -> None:
        self._db.close()
