"""A local folder as a byte backend: temp file + fsync + rename + fsync(dir) for every write.

Links are never followed below the root: a blob file or one of its folders replaced by a symbolic
link raises :class:`IntegrityError` (reads open each folder relative to the one above it with
``O_NOFOLLOW``, so a link swapped in meanwhile is refused too); a write never goes through a linked
folder, and replacing a blob file that is a link (``exists`` is False for it) repairs it.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat as stat_mode
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from shipyard.artifacts.backends.base import (
    BlobBackend,
    BlobInfo,
    StaleReport,
    clean_temp_folder,
    write_error,
)
from shipyard.core.errors import IntegrityError, InvalidInputError, NotFoundError, StorageError

STAGING = ".staging"
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted as a blob must not block the open


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

    def _link_error(self, key: str, where: Path) -> IntegrityError:
        rel = where.relative_to(self.root).as_posix()
        return IntegrityError(
            f"blob {key} in {self.location}: {rel} is a symbolic link or not a regular file; the store "
            "never follows links - restore the blob (or re-create its artifact)"
        )

    def _checked(self, key: str) -> Path:
        """The key's path, after checking that none of its existing folders below the root is a
        link (IntegrityError); the last component is the caller's to check."""
        path = self._path(key)
        folder = self.root
        for part in key.split("/")[:-1]:
            folder = folder / part
            try:
                mode = os.lstat(folder).st_mode
            except FileNotFoundError:
                break
            except OSError as exc:
                raise StorageError(f"cannot read {key} from {self.location}: {exc}") from exc
            if stat_mode.S_ISLNK(mode):
                raise self._link_error(key, folder)
        return path

    def _lstat(self, key: str) -> os.stat_result:
        """The blob file's own status; NotFoundError when missing, IntegrityError for a link or
        anything but a regular file (a folder counts as missing)."""
        path = self._checked(key)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFoundError(f"no blob {key} in {self.location}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key} from {self.location}: {exc}") from exc
        if stat_mode.S_ISDIR(info.st_mode):
            raise NotFoundError(f"no blob {key} in {self.location}")
        if not stat_mode.S_ISREG(info.st_mode):
            raise self._link_error(key, path)
        return info

    def _open_fd(self, key: str) -> int:
        """A read-only descriptor of the blob file, reached without following any link below the
        root: each folder is opened relative to the one above it with O_NOFOLLOW (openat)."""
        parts = key.split("/")
        if not (_NOFOLLOW and os.open in os.supports_dir_fd):  # no openat: check, then open
            path = self._checked(key)
            self._lstat(key)
            return os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
        where = self.root
        try:
            dir_fd = os.open(self.root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        except FileNotFoundError as exc:  # nothing stored yet
            raise NotFoundError(f"no blob {key} in {self.location}") from exc
        try:
            for part in parts[:-1]:
                where = where / part
                try:
                    next_fd = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
                except OSError as exc:
                    raise self._open_error(key, where, exc) from exc
                os.close(dir_fd)
                dir_fd = next_fd
            where = where / parts[-1]
            try:
                fd = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK, dir_fd=dir_fd)
            except OSError as exc:
                raise self._open_error(key, where, exc) from exc
        finally:
            os.close(dir_fd)
        mode = os.fstat(fd).st_mode
        if not stat_mode.S_ISREG(mode):
            os.close(fd)
            if stat_mode.S_ISDIR(mode):
                raise NotFoundError(f"no blob {key} in {self.location}")
            raise self._link_error(key, where)
        return fd

    def _open_error(self, key: str, where: Path, exc: OSError) -> Exception:
        if isinstance(exc, FileNotFoundError):
            return NotFoundError(f"no blob {key} in {self.location}")
        try:
            is_link = stat_mode.S_ISLNK(os.lstat(where).st_mode)
        except OSError:
            is_link = False
        if is_link or exc.errno in (errno.ELOOP, errno.EMLINK):
            return self._link_error(key, where)
        if isinstance(exc, NotADirectoryError):
            return NotFoundError(f"no blob {key} in {self.location}")
        return StorageError(f"cannot read {key} from {self.location}: {exc}")

    # writing -----------------------------------------------------------------------------------------
    def staging_dir(self) -> Path:
        folder = self.root / STAGING
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, "the staging folder", folder) from exc
        return folder

    def clean_staging(self, max_age_s: float = 24 * 3600) -> int:
        """Remove temp files that crashed writers left in the staging folder; returns how many.

        Only files older than ``max_age_s`` go, so writers still running keep theirs.
        """
        return self.clean_stale(time.time() - max_age_s).files

    def clean_stale(self, cutoff: float, *, dry_run: bool = False) -> StaleReport:
        """Temp files in ``.staging`` (blob writes: ``.tmp-*``; server uploads: ``.upload-*``)
        last modified before ``cutoff``."""
        return clean_temp_folder(self.root / STAGING, cutoff, dry_run=dry_run)

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
            raise write_error(exc, key, self.location) from exc
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
            raise write_error(exc, key, self.location) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def adopt_file(self, key: str, path: Path) -> None:
        dest = self._checked(key)  # never through a linked folder; a linked blob file is replaced
        try:
            if self._move_in(key, path, dest):
                _fsync_dir(dest.parent)
        except OSError as exc:
            raise write_error(exc, key, self.location) from exc

    def adopt_files(self, moves: Sequence[tuple[str, Path]], *, sync: bool = True) -> None:
        folders: dict[Path, None] = {}
        for key, path in moves:
            dest = self._checked(key)
            try:
                if not self._move_in(key, path, dest, sync=sync):
                    continue
            except OSError as exc:
                raise write_error(exc, key, self.location) from exc
            if sync:
                folders[dest.parent] = None
        for folder in folders:  # the first commits the journal; the rest find little left to do
            try:
                _fsync_dir(folder)
            except OSError as exc:
                raise write_error(exc, "a blob folder", self.location) from exc

    def _move_in(self, key: str, path: Path, dest: Path, *, sync: bool = True) -> bool:
        """``path`` renamed to ``dest`` (True: its folder is to be synced), or copied when it is on
        another filesystem (False: written and synced as a new blob). ``sync=False``: folders it
        makes are not synced either (the caller leaves the writeback to the kernel)."""
        self._make_parents(dest.parent, sync=sync)
        try:
            os.replace(path, dest)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            self.write_file(key, path)  # not on our filesystem after all: copy
            path.unlink(missing_ok=True)
            return False
        return True

    def _make_parents(self, folder: Path, *, sync: bool = True) -> None:
        if folder.is_dir():
            return
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        for created in reversed(missing if sync else []):  # the new directory entries durable too
            _fsync_dir(created.parent)

    # reading -----------------------------------------------------------------------------------------
    def open_read(self, key: str) -> BinaryIO:
        self._path(key)
        try:
            fd = self._open_fd(key)
        except OSError as exc:
            raise StorageError(f"cannot read {key} from {self.location}: {exc}") from exc
        return os.fdopen(fd, "rb")

    def exists(self, key: str) -> bool:
        """True for a regular blob file; False when missing or when the file itself is a link
        (so writing the blob again replaces the link); IntegrityError for a linked folder."""
        path = self._checked(key)
        try:
            mode = os.lstat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise StorageError(f"cannot read {key} from {self.location}: {exc}") from exc
        return stat_mode.S_ISREG(mode)

    def size(self, key: str) -> int:
        return self._lstat(key).st_size

    def delete(self, key: str) -> None:
        try:
            self._checked(key).unlink(missing_ok=True)
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
                        info = os.lstat(os.path.join(dirpath, filename))  # a link is not followed
                    except FileNotFoundError:  # deleted while we walked
                        continue
                    yield BlobInfo(key, info.st_size, info.st_mtime)

    def stat(self, key: str) -> BlobInfo:
        info = self._lstat(key)
        return BlobInfo(key, info.st_size, info.st_mtime)

    def touch(self, key: str) -> None:
        try:
            self._lstat(key)
            os.utime(self._path(key), follow_symlinks=False)
        except FileNotFoundError as exc:
            raise NotFoundError(f"no blob {key} in {self.location}") from exc
        except OSError as exc:
            raise StorageError(f"cannot touch {key} in {self.location}: {exc}") from exc

    def local_path(self, key: str) -> Path:
        """The blob file's path (checked: no link on the way; it may be missing). Reading it by
        name is not race-free; the server reads through :meth:`open_read`."""
        return self._checked(key)
