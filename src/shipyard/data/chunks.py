"""Large files of a snapshot: a large Parquet file as row-group-aligned chunks, any other large
file as one blob, copied and hashed by a small thread pool.

A Parquet file of ``CHUNKED_MIN`` or more is cut at its row groups' byte ranges (read from its
footer): ``[0, end of the first group)`` (the 4-byte head goes with it), each further group
``[start, next start)``, and ``[end of the last group, end of file)`` (page indexes and the
footer). Arrow writes a row group's pages with offsets relative to nothing outside the group, so
an unchanged group is byte-identical after another group changed or was appended: it keeps its
chunk's digest and is not written again. Consecutive small groups are joined until a chunk holds
``CHUNK_MIN`` (a file of 10,000 tiny groups is not 10,000 blobs), and a group over ``CHUNK_MAX``
is cut at fixed steps from its start (two threads share the hashing of one large group; an
unchanged group still cuts the same way). A footer that cannot be read, or ranges that are not
in order, store the file as one blob, as before.

All the ranges of all the large files go to one pool of ``THREADS`` workers
(:class:`~shipyard.artifacts.staged.StagedBlobs`: copied in the kernel, hashed from the stored
bytes, made durable together before the version is recorded). A file cut into one range is a
plain blob (its digest is its BLAKE3 digest, ``blake3:<hex>``; versions written before took
sha256); a chunked file's digest is :func:`~shipyard.metadata.datasets.chunks_digest` of its
chunks. BLAKE3 hashes at about twice sha256's speed here, and hashing is most of a large
snapshot's CPU after the copy itself. By default the blobs are not fsynced
(:mod:`shipyard.artifacts.staged`, ``durable``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from shipyard.artifacts._hashing import Algorithm
from shipyard.artifacts.cas import ContentStore
from shipyard.artifacts.staged import StagedBlobs
from shipyard.core.errors import InvalidInputError
from shipyard.metadata.datasets import DatasetFile, chunks_digest

CHUNKED_MIN = 8 << 20  # Parquet files from this size are stored as row-group-aligned chunks
CHUNK_MIN = 4 << 20  # consecutive row groups are joined until a chunk is this large
CHUNK_MAX = 32 << 20  # a larger row group is cut at steps of this size from its start
THREADS = 2  # two cores: each worker copies and hashes (BLAKE3 releases the GIL)
ALGORITHM: Algorithm = "blake3"  # the digests of large files and their chunks
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

Range = tuple[int, int]  # offset, length


@dataclass(frozen=True)
class LargeFile:
    """A file to store: where its bytes are and the ranges it is cut into."""

    index: int  # in the snapshot's file list
    rel: str
    path: str
    size: int
    ranges: tuple[Range, ...]


def plan(index: int, rel: str, path: str, size: int) -> LargeFile:
    """The ranges ``path`` is stored as: row-group-aligned chunks for a large Parquet file, else
    the whole file."""
    ranges: tuple[Range, ...] = ((0, size),)
    if size >= CHUNKED_MIN and rel.lower().endswith(".parquet"):
        ranges = tuple(parquet_ranges(path, size)) or ranges
    return LargeFile(index, rel, path, size, ranges)


def parquet_ranges(path: str, size: int) -> list[Range]:
    """Row-group-aligned ranges covering ``path`` (``size`` bytes); [] when its footer cannot be
    read or its row groups do not lie one after another inside the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except (pa.ArrowException, OSError, ValueError):
        return []
    starts, end = [], 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        first, last = size, 0
        for j in range(group.num_columns):
            column = group.column(j)
            offsets = [column.data_page_offset]
            if column.has_dictionary_page and column.dictionary_page_offset is not None:
                offsets.append(column.dictionary_page_offset)
            begin = min(o for o in offsets if o is not None)
            first = min(first, begin)
            last = max(last, begin + column.total_compressed_size)
        if group.num_columns == 0 or first < max(end, 4) or last <= first or last > size:
            return []
        starts.append(first)
        end = last
    if not starts:
        return []
    cuts = [0, *starts[1:], end, size]
    groups = [(cuts[i], cuts[i + 1] - cuts[i]) for i in range(len(cuts) - 2)]
    tail = (end, size - end)
    return [*_sized(groups), *([tail] if tail[1] > 0 else [])]


def _sized(groups: list[Range]) -> list[Range]:
    """Small consecutive groups joined up to ``CHUNK_MIN``, large ones cut at ``CHUNK_MAX``."""
    out: list[Range] = []
    start = length = 0
    for offset, n in groups:
        if not length:
            start = offset
        length += n
        if length >= CHUNK_MIN:
            out.append((start, length))
            length = 0
    if length:
        out.append((start, length))
    cut: list[Range] = []
    for offset, n in out:
        cut.extend((offset + at, min(CHUNK_MAX, n - at)) for at in range(0, n, CHUNK_MAX))
    return cut


def store_large(
    cas: ContentStore,
    files: Sequence[LargeFile],
    *,
    probe: bool,
    done: Callable[[LargeFile], None] | None = None,
    durable: bool = False,
) -> tuple[dict[int, DatasetFile], int]:
    """Store every range of ``files`` on ``THREADS`` workers, then make them durable together;
    ({index: file}, blobs copied). ``probe``: hash each range first and copy only those the
    store lacks (a re-snapshot). ``done(file)`` is told as each file's ranges are stored.
    ``durable``: fsync the blobs before returning."""
    staged = StagedBlobs(cas, ALGORITHM, durable=durable)
    # round robin over the files: the workers copy ranges of different files side by side
    # (two threads in ranges of one file cost more CPU here)
    most = max((len(f.ranges) for f in files), default=0)
    jobs = [(f, f.ranges[i]) for i in range(most) for f in files if i < len(f.ranges)]
    left = {f.index: len(f.ranges) for f in files}
    found: dict[int, list[tuple[str, int]]] = {f.index: [] for f in files}

    def store(job: tuple[LargeFile, Range]) -> tuple[str, bool]:
        f, (offset, length) = job
        fd = _open(f)  # per range: a folder of 100,000 large files never holds 100,000 open
        try:
            return staged.put_range(fd, offset, length, label=f.path, probe=probe)
        finally:
            os.close(fd)

    copied = 0
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            for (f, (_, length)), (digest, wrote) in zip(jobs, pool.map(store, jobs), strict=True):
                found[f.index].append((digest, length))
                copied += wrote
                left[f.index] -= 1
                if not left[f.index] and done is not None:
                    done(f)
        staged.commit()
    except BaseException:
        staged.abort()
        raise
    return {f.index: _described(f, found[f.index]) for f in files}, copied


def _described(f: LargeFile, chunks: list[tuple[str, int]]) -> DatasetFile:
    if len(chunks) == 1:
        return DatasetFile(f.rel, chunks[0][0], f.size)
    listed = tuple(chunks)
    return DatasetFile(f.rel, chunks_digest(listed), f.size, chunks=listed)


def _open(f: LargeFile) -> int:
    try:
        fd = os.open(f.path, _OPEN_FLAGS)
    except OSError as exc:
        raise InvalidInputError(f"cannot snapshot {f.path}: {exc.strerror}") from None
    if os.fstat(fd).st_size != f.size:
        os.close(fd)
        raise InvalidInputError(f"cannot snapshot {f.path}: it changed while it was read; try again")
    return fd
