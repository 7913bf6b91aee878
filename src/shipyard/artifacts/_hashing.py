"""sha256 on a worker thread, so hashing overlaps disk or network I/O.

hashlib releases the GIL on buffers larger than 2 KiB, so one thread can hash chunk *n* while the
caller writes (or reads) chunk *n + 1*.  Buffers handed to :meth:`HashPipe.feed` must stay unchanged
until :meth:`HashPipe.wait` or :meth:`HashPipe.hexdigest` returns.
"""

from __future__ import annotations

import hashlib
import queue
import threading

INLINE_LIMIT = 1 << 20  # smaller buffers are hashed on the caller's thread while no worker runs
_QUEUE_DEPTH = 8  # bounds the memory held by queued, not yet hashed, chunks


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


class HashPipe:
    """An ordered sha256 stream whose large chunks are hashed on a background thread."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
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
        self.close()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()

    def close(self) -> None:
        """Stop the worker thread (idempotent); safe to call on an abandoned pipe."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
