"""The byte-backend interface: it only moves bytes by key; content addressing is written once above it.

Writing a new backend
---------------------
Subclass :class:`BlobBackend`, implement the abstract methods, register the URI scheme in
:mod:`shipyard.artifacts.registry`, and add the backend to the ``blob_backend`` fixture of
``tests/contract/test_blob_contract.py``; it is done when that suite passes.

Rules: ``write_*`` is atomic — a reader sees either nothing or the whole object, never a partial
one, even if the writer crashes mid-way; keys are ``/``-separated relative paths that the
content-addressed layer builds (never user input); a missing key raises
:class:`~shipyard.core.errors.NotFoundError`; I/O failures raise
:class:`~shipyard.core.errors.StorageError` with the key in the message.
"""

from __future__ import annotations

import abc
import errno
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from shipyard.core.errors import InsufficientStorageError, StorageError

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def _mount_point(path: Path) -> Path:
    here = path
    while not here.exists() and here != here.parent:
        here = here.parent
    here = here.resolve()
    while not os.path.ismount(here) and here != here.parent:
        here = here.parent
    return here


def write_error(exc: OSError, what: str, folder: Path | str | None) -> StorageError:
    """The error for an OS failure while writing ``what`` under ``folder``: a full disk or quota
    is :class:`InsufficientStorageError` (HTTP 507) naming the disk, anything else StorageError.
    ``folder`` None: the system's temp folder (where a remote backend buffers)."""
    if folder is None:
        import tempfile

        folder = tempfile.gettempdir()
    if exc.errno in _FULL:
        disk = _mount_point(Path(folder))
        why = "the disk quota is exceeded" if exc.errno == errno.EDQUOT else "the disk is full"
        return InsufficientStorageError(
            f"cannot write {what} to {folder}: {why} (filesystem mounted at {disk}); free space there "
            "or point SHIPYARD_ARTIFACTS at a larger disk. Nothing was stored; stored data is intact"
        )
    return StorageError(f"cannot write {what} to {folder}: {exc.strerror or exc}")


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified: float | None  # seconds since the epoch of the last write or touch; None: unknown


@dataclass(frozen=True)
class StaleReport:
    """What a clean-up of abandoned writes found (and, unless a dry run, removed)."""

    files: int = 0  # temp files of killed writers
    file_bytes: int = 0
    uploads: int = 0  # unfinished multipart uploads (S3), aborted
    upload_bytes: int = 0

    def __add__(self, other: StaleReport) -> StaleReport:
        return StaleReport(
            self.files + other.files,
            self.file_bytes + other.file_bytes,
            self.uploads + other.uploads,
            self.upload_bytes + other.upload_bytes,
        )


def clean_temp_folder(folder: Path | None, cutoff: float, *, dry_run: bool = False) -> StaleReport:
    """Remove the regular files directly in ``folder`` last modified before ``cutoff`` (seconds
    since the epoch): temp files of writers that were killed. A live writer keeps writing, so its
    file stays young; links and folders are left alone."""
    import os
    import stat

    if folder is None or not folder.is_dir():
        return StaleReport()
    files = size = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode) or info.st_mtime >= cutoff:
                    continue
                if not dry_run:
                    os.unlink(entry.path)
            except FileNotFoundError:  # its writer finished (or another cleaner got there first)
                continue
            files += 1
            size += info.st_size
    return StaleReport(files, size)


class BlobBackend(abc.ABC):
    #: a human-readable location, e.g. "/home/me/.shipyard/artifacts" or "s3://bucket/prefix"
    location: str

    @abc.abstractmethod
    def write_bytes(self, key: str, data: bytes | memoryview) -> None:
        """Store ``data`` under ``key`` atomically (overwriting is allowed but callers avoid it)."""

    @abc.abstractmethod
    def write_file(self, key: str, path: Path) -> None:
        """Store the contents of a local file under ``key`` atomically, streaming (bounded memory)."""

    @abc.abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A readable binary stream of the object (caller closes it)."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def size(self, key: str) -> int: ...

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    @abc.abstractmethod
    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix``."""

    def list_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Keys starting with ``prefix`` with their size and last-modified time. The default knows
        no times (``modified`` None), which garbage collection treats as too young to delete."""
        for key in self.list_keys(prefix):
            yield BlobInfo(key, self.size(key), None)

    def stat(self, key: str) -> BlobInfo:
        """Size and last-modified time of one key (NotFoundError when missing)."""
        return BlobInfo(key, self.size(key), None)

    def touch(self, key: str) -> None:
        """Mark an existing object as just used (its modified time becomes now): the content-
        addressed layer calls it when a write finds the blob already there, so garbage collection's
        grace period protects a blob that is about to be referenced again. Default: nothing."""
        return None

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for zero-copy reads when the backend is a local folder, else None."""
        return None

    def staging_dir(self) -> Path | None:
        """A folder on the same filesystem as the store, where the content-addressed layer may
        write a temp file and hand it over with :meth:`adopt_file` (a rename, no copy); None when
        the backend is remote."""
        return None

    def adopt_file(self, key: str, path: Path) -> None:
        """Move a fully written, fsynced file from :meth:`staging_dir` to ``key`` (atomic rename).
        Backends without a staging dir fall back to :meth:`write_file` + unlink."""
        self.write_file(key, path)
        path.unlink(missing_ok=True)

    def adopt_files(self, moves: Sequence[tuple[str, Path]], *, sync: bool = True) -> None:
        """:meth:`adopt_file` for each (key, path): a local backend renames them all, then syncs
        each folder once (a batch of blobs costs one journal commit, not one per blob;
        ``sync=False`` leaves the renames to the kernel's writeback, as ``cp`` and ``mv`` do)."""
        for key, path in moves:
            self.adopt_file(key, path)

    def clean_stale(self, cutoff: float, *, dry_run: bool = False) -> StaleReport:
        """Remove what killed writers left behind, last active before ``cutoff`` (seconds since
        the epoch): temp files in the staging dir, unfinished multipart uploads. Default: nothing."""
        return StaleReport()

    def close(self) -> None:
        """Release clients or connections (idempotent); local backends hold none."""
        return None
