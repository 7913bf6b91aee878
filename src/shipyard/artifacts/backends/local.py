"""A local folder as a byte backend: temp file + fsync + rename + fsync(dir) for every write."""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from shipyard.artifacts.backends.base import BlobBackend, BlobInfo
from shipyard.core.errors import InvalidInputError, NotFoundError, StorageError

STAGING = ".staging"
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBackend(BlobBackend):
    """Keys are relative paths under ``root``; temp files live in ``root/.staging``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.location = str(self.root)

    def _path(self, key: str) -> Path:
        parts = key.split("/") if isinstance(key, str) else []
        if not parts or not all(_SEGMENT_RE.fullmatch(p) for p in parts):
            raise InvalidInputError(
                f"blob key {key!r} is not a relative path of letters, digits, '_', '-' and '.' segments"
            )
        return self.root.joinpath(*parts)

    # writing -----------------------------------------------------------------------------------------
    def staging_dir(self) -> Path:
        folder = self.root / STAGING
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the staging folder {folder}: {exc}") from exc
        return folder

    def clean_staging(self, max_age_s: float = 24 * 3600) -> int:
        """Remove temp files that crashed writers left in the staging folder; returns how many.

        Only files older than ``max_age_s`` go, so writers still running keep theirs.
        """
        folder = self.root / STAGING
        if not folder.is_dir():
            return 0
        cutoff = time.time() - max_age_s
        removed = 0
        for entry in folder.iterdir():
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:  # another cleaner or its writer got there first
                continue
        return removed

    def _temp(self) -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=".blob", dir=self.staging_dir())
        return fd, Path(name)

    def write_bytes(self, key: str, data: bytes | memoryview) -> None:
        self._path(key)
        fd, tmp = self._temp()
        try:
            with open(fd, "wb", buffering=0) as out:
                view = memoryview(data).cast("B")
                while view:
                    view = view[out.write(view) or 0 :]
                os.fsync(out.fileno())
            self.adopt_file(key, tmp)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write {key} to {self.location}: {exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def write_file(self, key: str, path: Path) -> None:
        self._path(key)
        fd, tmp = self._temp()
        try:
            with open(path, "rb") as src, open(fd, "wb") as out:
                shutil.copyfileobj(src, out, 16 << 20)
                out.flush()
                os.fsync(out.fileno())
            self.adopt_file(key, tmp)
        except FileNotFoundError as exc:
            tmp.unlink(missing_ok=True)
            raise NotFoundError(f"cannot store {path} as {key}: no such file") from exc
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write {key} to {self.location}: {exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def adopt_file(self, key: str, path: Path) -> None:
        dest = self._path(key)
        try:
            self._make_parents(dest.parent)
            try:
                os.replace(path, dest)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self.write_file(key, path)  # not on our filesystem after all: copy
                path.unlink(missing_ok=True)
                return
            _fsync_dir(dest.parent)
        except OSError as exc:
            raise StorageError(f"cannot write {key} to {self.location}: {exc}") from exc

    def _make_parents(self, folder: Path) -> None:
        if folder.is_dir():
            return
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        for created in reversed(missing):  # make the new directory entries durable too
            _fsync_dir(created.parent)

    # reading -----------------------------------------------------------------------------------------
    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"no blob {key} in {self.location}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key} from {self.location}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise NotFoundError(f"no blob {key} in {self.location}") from exc

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key} from {self.location}: {exc}") from exc

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        for info in self.list_blobs(prefix):
            yield info.key

    def list_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        start = self.root
        folder = prefix.rpartition("/")[0]
        if folder:
            start = self._path(folder)
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d != STAGING]
                rel_dir = ""
            dirnames.sort()
            for filename in sorted(filenames):
                key = f"{rel_dir}/{filename}" if rel_dir else filename
                if key.startswith(prefix):
                    try:
                        stat = os.stat(os.path.join(dirpath, filename))
                    except FileNotFoundError:  # deleted while we walked
                        continue
                    yield BlobInfo(key, stat.st_size, stat.st_mtime)

    def stat(self, key: str) -> BlobInfo:
        try:
            stat = self._path(key).stat()
        except FileNotFoundError as exc:
            raise NotFoundError(f"no blob {key} in {self.location}") from exc
        return BlobInfo(key, stat.st_size, stat.st_mtime)

    def touch(self, key: str) -> None:
        try:
            os.utime(self._path(key))
        except FileNotFoundError as exc:
            raise NotFoundError(f"no blob {key} in {self.location}") from exc
        except OSError as exc:
            raise StorageError(f"cannot touch {key} in {self.location}: {exc}") from exc

    def local_path(self, key: str) -> Path:
        return self._path(key)
