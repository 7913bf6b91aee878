"""Blobs copied from byte ranges of local files by several threads, made durable together.

A large dataset snapshot stores many blobs (a large Parquet file's row-group-aligned chunks, or
whole large files) at once. :class:`StagedBlobs` copies each range into a temp file in the local
store's staging folder (:func:`~shipyard.artifacts._copy.copy_hashed`: in the kernel, each
step hashed from the stored bytes; reading into a buffer, hashing and writing it cost more CPU
with two threads, even from a row group's unaligned offset) and leaves it there, while
two more threads fsync each temp file once it is copied (they start its writeback and wait for
the disk; starting writeback from the copying threads made them block on a busy disk: two
threads copied no faster than one). :meth:`StagedBlobs.commit` waits for the last of those
fsyncs, renames every temp file under its digest key and syncs each blob folder once (a batch
costs about one journal commit, not one per blob). A blob is under its key only once its bytes
are durable, and ``commit`` returns only once the renames are too, so a version recorded after
it never names a blob that is not durable; a crash before leaves temp files (removed by garbage
collection's stale sweep).

``durable=False`` (a dataset snapshot's default, as for ``cp``, ``dvc add`` and ``git add``)
neither fsyncs nor syncs the folders: the kernel writes the blobs back within its usual delay
(about 30 s), and the snapshot does not wait for the disk. A process that is killed loses
nothing (the page cache is the kernel's); only a power loss or kernel crash in that delay can
leave a recorded version whose blob is missing or damaged, which every read then refuses
(blobs are verified against their digest), never returning wrong bytes.

Into a remote backend (no staging folder) each range streams through a
:class:`~shipyard.artifacts.cas.BlobWriter` and is stored when it is copied; ``commit`` has
nothing left to do.
"""

from __future__ import annotations

import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from shipyard.artifacts._copy import copy_hashed, hash_range
from shipyard.artifacts._hashing import Algorithm
from shipyard.artifacts.backends.base import write_error
from shipyard.artifacts.cas import ContentStore, blob_key
from shipyard.core.errors import InvalidInputError

_READ = 16 << 20  # bytes read at a time when a range streams to a remote backend
_SYNC_THREADS = 2  # fsyncs in flight (they wait for the disk; concurrent ones share a journal commit)


class StagedBlobs:
    """One batch of blobs; thread-safe :meth:`put_range`, then :meth:`commit` (or :meth:`abort`)."""

    def __init__(self, cas: ContentStore, algorithm: Algorithm = "sha256", *, durable: bool = True) -> None:
        self.cas = cas
        self.algorithm: Algorithm = algorithm
        self.durable = durable
        self.staging = cas.blobs.staging_dir()
        self._lock = threading.Lock()
        self._temps: list[tuple[str, Path]] = []  # (digest, temp file) waiting for commit
        self._syncer: ThreadPoolExecutor | None = None  # fsyncs each temp file once it is copied
        self._synced: list[Future[None]] = []

    def put_range(
        self, src: int, offset: int, length: int, *, label: str, probe: bool = False
    ) -> tuple[str, bool]:
        """Store ``length`` bytes of the open file ``src`` (named ``label`` in errors) from
        ``offset``; (digest, copied).
        ``probe``: hash the range first and copy nothing when the store already holds it (worth
        it when most ranges are expected to be stored already: a re-snapshot)."""
        if probe:
            digest, got = hash_range(src, offset, length, self.algorithm)
            _check_length(label, offset, got, length)
            if self.cas.holds(digest):
                return digest, False
        if self.staging is None:
            return self._stream(src, offset, length, label), True
        try:
            fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=".blob", dir=self.staging)
        except OSError as exc:
            raise write_error(exc, "a blob", self.staging) from exc
        temp = Path(name)
        try:
            try:
                digest, got = copy_hashed(src, fd, offset, length, writeback=False, algorithm=self.algorithm)
            finally:
                os.close(fd)
            _check_length(label, offset, got, length)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise write_error(exc, "a blob", self.staging) from exc
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        with self._lock:
            self._temps.append((digest, temp))
            if not self.durable:
                return digest, True
            if self._syncer is None:
                self._syncer = ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="shipyard-fsync")
            self._synced.append(self._syncer.submit(_fsync, temp))
        return digest, True

    def _stream(self, src: int, offset: int, length: int, label: str) -> str:
        with self.cas.writer(self.algorithm) as out:
            done = 0
            while done < length:
                data = os.pread(src, min(_READ, length - done), offset + done)
                if not data:
                    break
                out.write_stable(data)  # a fresh bytes object per read: never reused
                done += len(data)
            _check_length(label, offset, done, length)
            return out.commit()[0]

    def commit(self) -> None:
        """Make every staged blob durable, then store it under its digest key (one already
        stored is dropped)."""
        with self._lock:
            temps, self._temps = self._temps, []
            synced, self._synced = self._synced, []
        try:
            for done in synced:
                done.result()
            moves: list[tuple[str, Path]] = []
            for digest, temp in temps:
                if self.cas.holds(digest):
                    temp.unlink(missing_ok=True)
                else:
                    moves.append((blob_key(digest), temp))
            self.cas.blobs.adopt_files(moves, sync=self.durable)
        except OSError as exc:
            _remove(temps)
            raise write_error(exc, "a blob", self.staging or self.cas.blobs.location) from exc
        except BaseException:
            _remove(temps)
            raise
        finally:
            self._stop()

    def abort(self) -> None:
        """Remove what was staged and not committed."""
        with self._lock:
            temps, self._temps = self._temps, []
            self._synced = []
        self._stop()
        _remove(temps)

    def _stop(self) -> None:
        if self._syncer is not None:
            self._syncer.shutdown(wait=True)
            self._syncer = None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(temps: list[tuple[str, Path]]) -> None:
    for _, temp in temps:
        temp.unlink(missing_ok=True)


def _check_length(label: str, offset: int, got: int, length: int) -> None:
    if got != length:
        raise InvalidInputError(
            f"cannot snapshot {label}: it changed while it was read ({got} of the {length} bytes "
            f"expected from offset {offset}); snapshot it again once it is written"
        )
