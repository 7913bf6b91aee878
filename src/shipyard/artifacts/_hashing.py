"""Content digests, and hashing on a worker thread so it overlaps disk or network I/O.

A digest names its algorithm the way OCI digests do, except that sha256 (every artifact, model
package and small dataset file) is written as bare hex for compatibility with everything stored
before: ``<64 hex>`` is sha256, ``blake3:<64 hex>`` is BLAKE3 (large dataset files and their
chunks: about 0.3 s of CPU per GB here against sha256's 0.7, which is what a snapshot of a large
dataset waits for on two cores). Both are 256-bit cryptographic hashes.

hashlib releases the GIL on buffers larger than 2 KiB, so one thread can hash chunk *n* while the
caller writes (or reads) chunk *n + 1*.  Buffers handed to :meth:`HashPipe.feed` must stay unchanged
until :meth:`HashPipe.wait` or :meth:`HashPipe.hexdigest` returns.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from typing import Literal, Protocol

Algorithm = Literal["sha256", "blake3"]
BLAKE3 = "blake3:"  # the prefix of a BLAKE3 digest

INLINE_LIMIT = 1 << 20  # smaller buffers are hashed on the caller's thread while no worker runs
_QUEUE_DEPTH = 8  # bounds the memory held by queued, not yet hashed, chunks


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


def algorithm_of(digest: str) -> Algorithm:
    return "blake3" if digest.startswith(BLAKE3) else "sha256"


def hex_of(digest: str) -> str:
    """The hex part of a digest (its 64 characters, without the algorithm)."""
    return digest[len(BLAKE3) :] if digest.startswith(BLAKE3) else digest


def new_hasher(algorithm: Algorithm) -> Hasher:
    """A fresh hash of ``algorithm`` (both release the GIL while they hash a large buffer)."""
    if algorithm == "blake3":
        import blake3

        return blake3.blake3()
    return hashlib.sha256()


def named(algorithm: Algorithm, hexdigest: str) -> str:
    """The digest string of ``hexdigest`` under ``algorithm``."""
    return hexdigest if algorithm == "sha256" else BLAKE3 + hexdigest


def digest_of(data: bytes | bytearray | memoryview, algorithm: Algorithm = "sha256") -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return named(algorithm, hasher.hexdigest())


class HashPipe:
    """An ordered hash stream whose large chunks are hashed on a background thread."""

    def __init__(self, algorithm: Algorithm = "sha256") -> None:
        self.algorithm: Algorithm = algorithm
        self._hash = new_hasher(algorithm)
        self._queue: queue.Queue[bytes | bytearray | memoryview | None] = queue.Queue(_QUEUE_DEPTH)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.size = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Hash ``data`` after everything fed before it (``data`` must not change until wait())."""
        n = len(data) if not isinstance(data, memoryview) else data.nbytes
        if n == 0:
            return
        self.size += n
        if self._thread is None and n < INLINE_LIMIT:
            self._hash.update(data)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shipyard-sha256", daemon=True)
            self._thread.start()
        self._queue.put(data)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    self._hash.update(item)
            except BaseException as exc:  # surfaced by wait()
                self._error = exc
            finally:
                self._queue.task_done()

    def wait(self) -> None:
        """Block until every fed buffer is hashed (the caller may then reuse them)."""
        if self._thread is not None:
            self._queue.join()
        if self._error is not None:
            raise self._error

    def hexdigest(self) -> str:
        """The hex of the hash (no algorithm prefix)."""
        self.close()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()

    def digest(self) -> str:
        """The digest string (``blake3:`` prefixed for BLAKE3)."""
        return named(self.algorithm, self.hexdigest())

    def close(self) -> None:
        """Stop the worker thread (idempotent); safe to call on an abandoned pipe."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
