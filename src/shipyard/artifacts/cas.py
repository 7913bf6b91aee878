"""The content-addressed layer, written once over any :class:`BlobBackend`.

Blobs live under ``blobs/<algorithm>/<first two hex digits>/<remaining 62>`` (``sha256``, or
``blake3`` for large dataset files: :mod:`shipyard.artifacts._hashing`); the same bytes are stored
once. Writes go to a temp file (in the backend's staging dir when it has one, so handing the file
over is a rename), hashed on a second thread while they are written, fsynced, then adopted under the
digest key: a crash leaves nothing under the final key. Every read is verified against the digest;
a mismatch raises :class:`IntegrityError` naming the artifact, and the bad bytes are never returned.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from shipyard.artifacts._copy import copy_hashed
from shipyard.artifacts._hashing import (
    BLAKE3,
    INLINE_LIMIT,
    Algorithm,
    HashPipe,
    algorithm_of,
    digest_of,
    hex_of,
)
from shipyard.artifacts.backends.base import BlobBackend, StaleReport, clean_temp_folder, write_error
from shipyard.core.errors import IntegrityError, InvalidInputError, NotFoundError, StorageError

_DIGEST_RE = re.compile(r"(?:blake3:)?[0-9a-f]{64}")
_BUFFER = 1 << 20  # small writes are gathered into chunks of this size
_CHUNK = 16 << 20  # large transfers move in chunks of this size
BLOB_PREFIX = "blobs/sha256/"
BLAKE3_PREFIX = "blobs/blake3/"
BLOB_PREFIXES = (BLOB_PREFIX, BLAKE3_PREFIX)

Buffer = bytes | bytearray | memoryview


def validate_digest(digest: object) -> str:
    """A content digest (never a path): 64 lowercase hex characters (sha256), or ``blake3:`` and
    64 of them."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        shown = repr(digest)[:80]
        raise InvalidInputError(
            f"{shown} is not a content digest; expected 64 lowercase hexadecimal characters "
            "(sha256), or blake3: followed by 64"
        )
    return digest


def blob_key(digest: str) -> str:
    digest = validate_digest(digest)
    hexd = hex_of(digest)
    prefix = BLAKE3_PREFIX if digest.startswith(BLAKE3) else BLOB_PREFIX
    return f"{prefix}{hexd[:2]}/{hexd[2:]}"


def digest_of_key(key: str) -> str | None:
    """The digest a content-store key names; None for any other key."""
    for prefix, algorithm in ((BLOB_PREFIX, ""), (BLAKE3_PREFIX, BLAKE3)):
        if key.startswith(prefix):
            digest = algorithm + key[len(prefix) :].replace("/", "", 1)
            if _DIGEST_RE.fullmatch(digest) and blob_key(digest) == key:
                return digest
    return None


def local_path(digest: str) -> str:
    """A relative path for ``digest`` in a local cache folder (``ab/<hex>``, or
    ``blake3/ab/<hex>``): never a name with a colon."""
    hexd = hex_of(validate_digest(digest))
    return f"{hexd[:2]}/{hexd}" if hexd == digest else f"blake3/{hexd[:2]}/{hexd}"


def _nbytes(data: Buffer) -> int:
    if isinstance(data, bytes | bytearray):
        return len(data)
    # memoryview, pickle.PickleBuffer (pickle protocol 5 writes big buffers as these), numpy...
    with memoryview(data) as view:
        return view.nbytes


def _as_bytes_view(data: Buffer) -> memoryview:
    view = data if isinstance(data, memoryview) else memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class BlobWriter:
    """A write-only binary file that becomes a content-addressed blob on :meth:`commit`.

    Use it as a context manager: leaving the block with an exception discards the temp file.
    """

    def __init__(self, cas: ContentStore, algorithm: Algorithm = "sha256") -> None:
        self._cas = cas
        self._path: Path | None = None  # the temp file, created once the data outgrows memory
        self._file: BinaryIO | None = None
        self._staging: Path | None = None  # None: a remote backend, the temp file is only a buffer
        self._pipe = HashPipe(algorithm)
        self._pending = bytearray()
        self._done = False

    def _open_temp(self) -> BinaryIO:
        if self._file is None:
            self._staging = self._cas.blobs.staging_dir()
            folder = self._staging if self._staging is not None else self._cas.scratch_dir()
            try:
                fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=".blob", dir=folder)
            except OSError as exc:
                raise write_error(exc, "a blob", folder) from exc
            self._path = Path(name)
            self._file = open(fd, "wb", buffering=0)  # noqa: SIM115 - closed in commit/abort
        return self._file

    # file-like API (pickle, pyarrow, tarfile write through it) ------------------------------------
    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self._done

    def tell(self) -> int:
        return self._pipe.size + len(self._pending)

    def flush(self) -> None:
        """Nothing to do: data reaches the disk in commit()."""

    def write(self, data: Buffer) -> int:
        """Write a buffer the caller may reuse as soon as this returns."""
        return self._write(data, stable=False)

    def write_stable(self, data: Buffer) -> int:
        """Write a buffer that stays unchanged until commit(): hashing overlaps the disk write."""
        return self._write(data, stable=True)

    def _write(self, data: Buffer, *, stable: bool) -> int:
        if self._done:
            raise ValueError("write to a committed or aborted BlobWriter")
        n = _nbytes(data)
        if n < INLINE_LIMIT:
            self._pending += data
            if len(self._pending) >= _BUFFER:
                self._flush_pending()
            return n
        self._flush_pending()
        view = _as_bytes_view(data)
        self._pipe.feed(view)
        self._write_all(view)
        if not stable:
            self._pipe.wait()
        return n

    def _flush_pending(self) -> None:
        if self._pending:
            chunk = bytes(self._pending)
            self._pending.clear()
            self._pipe.feed(chunk)
            self._write_all(memoryview(chunk))

    def _write_all(self, view: memoryview) -> None:
        out = self._open_temp()
        try:
            for start in range(0, len(view), _CHUNK * 4):
                part = view[start : start + _CHUNK * 4]
                while part:
                    written = out.write(part)
                    part = part[written or 0 :]
        except OSError as exc:  # a full disk: the temp file goes now, the caller gets one clear error
            where = self._staging or self._cas.blobs.location
            self.abort()
            raise write_error(exc, "a blob", where) from exc

    # completion --------------------------------------------------------------------------------------
    def commit(self) -> tuple[str, int]:
        """fsync, finish the hash, store under the digest key (or drop if present); (digest, size).

        Small blobs never touch a temp file: they are hashed in memory and written only when new.
        """
        try:
            if self._file is None:
                data = bytes(self._pending)
                self._pending.clear()
                self._pipe.feed(data)
                digest = self._cas.put_small(data, self._pipe.digest())
                size = len(data)
            else:
                self._flush_pending()
                self._file.flush()
                if self._staging is not None:  # the temp file becomes the blob: make it durable
                    os.fsync(self._file.fileno())  # overlaps the hash thread's last chunks
                self._file.close()
                digest = self._pipe.digest()
                size = self._pipe.size
                self._cas.adopt(digest, self._path)  # type: ignore[arg-type]  # set with _file
        except OSError as exc:
            self.abort()
            raise write_error(exc, "a blob", self._staging or self._cas.blobs.location) from exc
        except BaseException:
            self.abort()
            raise
        self._done = True
        return digest, size

    def abort(self) -> None:
        self._done = True
        self._pipe.close()
        self._pending.clear()
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:  # left early (an exception) or never committed
            self.abort()


class VerifyingReader:
    """A read-only stream of one blob that hashes what it reads; :meth:`verify` checks it all."""

    def __init__(self, stream: BinaryIO, digest: str, label: str, where: str) -> None:
        self._stream = stream
        self._digest = digest
        self._label = label
        self._where = where
        self._pipe = HashPipe(algorithm_of(digest))

    @property
    def position(self) -> int:
        """Bytes read so far."""
        return self._pipe.size

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._pipe.feed(data)
        return data

    def readinto_stable(self, buffer: memoryview) -> int:
        """Fill ``buffer`` (which must stay unchanged until verify()); returns the bytes read."""
        view = _as_bytes_view(buffer)
        total = 0
        while total < len(view):
            part = view[total : total + _CHUNK]
            got = self._readinto(part)
            if not got:
                break
            self._pipe.feed(part[:got])
            total += got
        return total

    def _readinto(self, part: memoryview) -> int:
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            return int(readinto(part) or 0)
        data = self._stream.read(len(part))
        part[: len(data)] = data
        return len(data)

    def verify(self) -> None:
        """Read to the end and compare with the digest; IntegrityError naming the artifact."""
        while self.read(_CHUNK):
            pass
        actual = self._pipe.digest()
        if actual != self._digest:
            raise IntegrityError(
                f"artifact {self._label!r} is corrupted: its stored bytes at {self._where} hash to "
                f"{self._pipe.algorithm} {hex_of(actual)} ({self._pipe.size} bytes), expected "
                f"{self._digest}; the blob was "
                "modified or truncated - re-create the artifact (the bad bytes were not returned)"
            )

    def close(self) -> None:
        self._pipe.close()
        self._stream.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ContentStore:
    """Content-addressed (sha256 or BLAKE3), write-once, verified blobs over a byte backend."""

    def __init__(self, blobs: BlobBackend, scratch: Path | None = None) -> None:
        self.blobs = blobs
        self.scratch = scratch  # temp files of a remote backend's writes; None: the system's temp

    def scratch_dir(self) -> Path | None:
        """Where a remote backend's writes buffer (created 0700 on first use), so that garbage
        collection finds what a killed writer left there; None: the system's temp folder (also
        when the scratch folder cannot be created, e.g. a read-only home)."""
        if self.scratch is None:
            return None
        try:
            self.scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return None
        return self.scratch

    def temp_dir(self) -> Path | None:
        """Where a writer puts a temp file that becomes a blob: the backend's staging dir (then
        :meth:`adopt` is a rename), else the scratch folder."""
        staging = self.blobs.staging_dir()
        return staging if staging is not None else self.scratch_dir()

    def clean_stale(self, cutoff: float, *, dry_run: bool = False) -> StaleReport:
        """Remove what killed writers left, last active before ``cutoff``: the backend's temp
        files and unfinished uploads, and temp files in the scratch folder."""
        report = self.blobs.clean_stale(cutoff, dry_run=dry_run)
        return report + clean_temp_folder(self.scratch, cutoff, dry_run=dry_run)

    def exists(self, digest: str) -> bool:
        return self.blobs.exists(blob_key(digest))

    def writer(self, algorithm: Algorithm = "sha256") -> BlobWriter:
        return BlobWriter(self, algorithm)

    def adopt(self, digest: str, path: Path) -> None:
        """Hand a finished temp file over to the digest key; drop it when the blob already exists."""
        key = blob_key(digest)
        if self.blobs.exists(key) and self._renewed(key):
            path.unlink(missing_ok=True)
            return
        self.blobs.adopt_file(key, path)

    def holds(self, digest: str) -> bool:
        """Whether the blob is stored (touched, so garbage collection's grace period covers the
        record about to point at it)."""
        key = blob_key(digest)
        return self.blobs.exists(key) and self._renewed(key)

    def put_bytes(self, data: Buffer) -> str:
        if _nbytes(data) >= _CHUNK:
            with self.writer() as out:
                out.write_stable(data)
                return out.commit()[0]
        return self.put_small(data if isinstance(data, bytes | memoryview) else bytes(data))

    def put_small(self, data: bytes | memoryview, digest: str | None = None) -> str:
        """Store an in-memory blob (hashed here unless ``digest`` is given) when it is new."""
        digest = digest if digest is not None else digest_of(data)
        key = blob_key(digest)
        if not (self.blobs.exists(key) and self._renewed(key)):
            self.blobs.write_bytes(key, data)
        return digest

    def _renewed(self, key: str) -> bool:
        """Touch a blob a write found already stored, so garbage collection's grace period covers
        the record about to point at it. False when it vanished meanwhile (write it again); a
        backend that cannot touch it (e.g. an S3 object over 5 GB) leaves it as it is."""
        try:
            self.blobs.touch(key)
        except NotFoundError:
            return False
        except StorageError:
            pass
        return True

    def put_file(self, path: Path) -> tuple[str, int]:
        """Store a local file; (digest, size). Into a local backend a file of ``INLINE_LIMIT`` or
        more is copied in the kernel and hashed from the copy (:mod:`shipyard.artifacts._copy`),
        then fsynced and renamed under its digest key; a smaller one is hashed in memory and
        written only when new."""
        try:
            src = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError as exc:
            raise NotFoundError(f"cannot store {path}: no such file") from exc
        with src:
            staging = self.blobs.staging_dir()
            if staging is not None and os.fstat(src.fileno()).st_size >= INLINE_LIMIT:
                return self._copy_in(src.fileno(), staging)
            return self._write_in(src)

    def _copy_in(self, src: int, staging: Path) -> tuple[str, int]:
        try:
            fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=".blob", dir=staging)
        except OSError as exc:
            raise write_error(exc, "a blob", staging) from exc
        temp = Path(name)
        try:
            try:
                digest, size = copy_hashed(src, fd)
                os.fsync(fd)  # durable before it is adopted under its digest key
            finally:
                os.close(fd)
            self.adopt(digest, temp)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise write_error(exc, "a blob", staging) from exc
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return digest, size

    def _write_in(self, src: BinaryIO) -> tuple[str, int]:
        with self.writer() as out:
            while chunk := src.read(_CHUNK):
                out.write_stable(chunk)  # a fresh bytes object per chunk: never reused
            return out.commit()

    def _label(self, digest: str, name: str | None) -> str:
        return name if name is not None else digest

    def open_verified(self, digest: str, name: str | None = None) -> VerifyingReader:
        key = blob_key(digest)
        label = self._label(digest, name)
        try:
            stream = self.blobs.open_read(key)
        except NotFoundError as exc:
            raise NotFoundError(
                f"artifact {label!r} not found: no blob {key} in {self.blobs.location}"
            ) from exc
        return VerifyingReader(stream, digest, label, f"{self.blobs.location}/{key}")

    def get_bytes(self, digest: str, name: str | None = None) -> bytes:
        with self.open_verified(digest, name) as reader:
            data = reader.read()
            reader.verify()
        return data

    def get_file(self, digest: str, dest: Path, name: str | None = None) -> Path:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self.open_verified(digest, name) as reader:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            tmp = Path(tmp_name)
            try:
                with open(fd, "wb") as out:
                    while chunk := reader.read(_CHUNK):
                        out.write(chunk)
                    reader.verify()
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, dest)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return dest
