"""Storing a local file or folder in the content store, file by file (the hot path of a folder
snapshot: 100,000 small files must take seconds, so each file costs a handful of syscalls and
little Python).

- The folder is walked with ``os.scandir`` (one ``lstat`` per entry; links and special files
  refused); paths stay strings (no ``pathlib`` objects per file).
- A file whose size, mtime and inode match the hash cache, and whose blob the dataset's latest
  version already holds, is neither read nor written.
- Other files up to ``PACK_LIMIT`` are read with one ``open`` (``O_NOFOLLOW``) and one ``read``
  on a few threads, hashed, and gathered into pack blobs of about ``PACK_BYTES`` (each file keeps
  its own sha256 and is found by pack and offset); a pack is written on a background thread
  while the next one fills. Larger files are stored after them by :mod:`shipyard.data.chunks`
  (a large Parquet file as row-group-aligned chunks, any other as one blob; two workers copy in
  the kernel and hash from the copy, ``shipyard.artifacts._copy``).
- Durability: every blob is fsynced before it is renamed under its digest key (and its folder
  fsynced after): a pack on its own, the large files' blobs together once all are copied
  (``shipyard.artifacts.staged``; their writeback starts while they are copied, so the batch's
  fsyncs wait for the last megabytes only). The version is recorded only once every blob is
  stored, so an acknowledged version's bytes are on disk.
- A digest seen twice in one snapshot is packed once.

Blobs written for a snapshot that then fails are left unreferenced, for garbage collection.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from shipyard.artifacts.cas import ContentStore
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.data import chunks
from shipyard.data.hashcache import HashCache, Stamp
from shipyard.metadata.datasets import DatasetFile

PACK_LIMIT = 64 << 10  # new files up to this size are stored in pack blobs
PACK_BYTES = 64 << 20  # a pack blob is closed at about this size
_CHUNK_FILES = 4096  # files probed (read and hashed) at a time
_PER_TASK = 256  # files per thread-pool task
_TASK_BYTES = 16 << 20  # or fewer files when they are this large together
_THREADS = 8
_MAX_PATH = 1024
_CONTROL = re.compile(r"[\x00-\x1f]")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

Entry = tuple[str, str, os.stat_result]  # relative path, path, stat


def _check_names(root: Path, rels: list[str]) -> None:
    """Every relative path short enough and free of control characters (one scan for them all)."""
    bad = _CONTROL.search("/".join(rels))
    too_long = any(len(r) > _MAX_PATH // 4 and len(r.encode()) > _MAX_PATH for r in rels)
    if bad is not None or too_long:
        raise InvalidInputError(
            f"cannot snapshot {root}: a file's name is too long or has control characters"
        )


def list_files(root: Path) -> list[Entry]:
    """(relative path, path, stat) of every regular file under ``root``, sorted by relative path;
    links and special files refused."""
    if not root.exists():
        raise NotFoundError(f"cannot snapshot {root}: no such file or folder; check the path")
    if root.is_symlink():
        raise InvalidInputError(f"cannot snapshot {root}: it is a symbolic link; give the real path")
    if root.is_file():
        _check_names(root, [root.name])
        return [(root.name, str(root), root.stat())]
    found: list[Entry] = []
    pending = [("", str(root))]
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    found.append((prefix + entry.name, entry.path, entry.stat(follow_symlinks=False)))
                elif entry.is_dir(follow_symlinks=False):
                    pending.append((prefix + entry.name + "/", entry.path))
                elif entry.is_symlink():
                    raise InvalidInputError(f"cannot snapshot {root}: {entry.path} is a symbolic link")
                else:
                    raise InvalidInputError(f"cannot snapshot {root}: {entry.path} is not a regular file")
    if not found:
        raise InvalidInputError(f"cannot snapshot {root}: the folder has no files")
    found.sort(key=lambda t: t[0])
    _check_names(root, [rel for rel, _, _ in found])
    return found


def read_small(path: str, size: int) -> bytes:
    """A file's bytes with one ``open`` and (usually) one ``read``; a link is refused."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise InvalidInputError(f"cannot snapshot {path}: {exc.strerror}") from None
    try:
        data = os.read(fd, size + 1)
        if len(data) <= size:  # a short read of a regular file is its end
            return data
        parts = [data]
        while more := os.read(fd, 1 << 20):
            parts.append(more)
        return b"".join(parts)
    finally:
        os.close(fd)


class _Packer:
    """Gathers new small files into pack blobs; each pack is written on a background thread while
    the next one fills. A digest already packed in this snapshot is not packed again."""

    def __init__(self, cas: ContentStore, writer: ThreadPoolExecutor) -> None:
        self.cas = cas
        self.writer = writer
        self.pieces: list[bytes] = []
        self.size = 0
        self.where: dict[str, tuple[int, int]] = {}  # digest -> (pack number, offset)
        # index, path, digest, size, pack number, offset
        self.members: list[tuple[int, str, str, int, int, int]] = []
        self.packs: list[Future[str]] = []

    def add(self, index: int, rel: str, digest: str, data: bytes) -> None:
        spot = self.where.get(digest)
        if spot is None:
            spot = self.where[digest] = (len(self.packs), self.size)
            self.pieces.append(data)
            self.size += len(data)
        self.members.append((index, rel, digest, len(data), spot[0], spot[1]))
        if self.size >= PACK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.pieces:
            pieces, self.pieces, self.size = self.pieces, [], 0
            if len(self.packs) >= 2:  # at most two packs in memory: wait for the older one
                self.packs[-2].result()
            self.packs.append(self.writer.submit(lambda: self.cas.put_bytes(b"".join(pieces))))

    def placed(self) -> dict[int, DatasetFile]:
        """Every packed file, once every pack is written (a failed write raises here)."""
        self.flush()
        digests = [pack.result() for pack in self.packs]
        return {
            index: DatasetFile(rel, digest, size, None, digests[pack], offset)
            for index, rel, digest, size, pack, offset in self.members
        }


def _at(rel: str, digest: str, size: int, where: DatasetFile) -> DatasetFile:
    """``rel`` stored where a known file with the same digest is."""
    return DatasetFile(rel, digest, size, None, where.pack, where.offset, where.chunks)


def _tasks(entries: list[Entry], start: int, end: int) -> list[range]:
    """``entries[start:end]`` cut into thread-pool tasks of at most ``_PER_TASK`` files or about
    ``_TASK_BYTES`` of small files read (a large file is only noted here; it is stored later)."""
    tasks: list[range] = []
    first, size = start, 0
    for i in range(start, end):
        size += min(entries[i][2].st_size, PACK_LIMIT)
        if i + 1 - first >= _PER_TASK or size >= _TASK_BYTES:
            tasks.append(range(first, i + 1))
            first, size = i + 1, 0
    if first < end:
        tasks.append(range(first, end))
    return tasks


Probe = tuple[int, str, bytes | None, DatasetFile | None]  # index, digest, data, placed
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


def store_files(
    cas: ContentStore,
    root: Path,
    entries: list[Entry],
    cache: HashCache | None,
    known: dict[str, DatasetFile],
    *,
    progress: Progress | None = None,
    durable: bool = False,
) -> tuple[list[DatasetFile], int]:
    """Store ``entries`` (from :func:`list_files` of ``root``); (files, blobs written).

    ``known`` maps digests to where the dataset's latest version keeps them: such files are
    neither written nor (when the hash cache vouches for them) read. ``progress(done, total)`` is
    told the bytes looked at so far, as each batch of files is done. ``durable``: large files'
    blobs are fsynced before this returns (else the kernel writes them back later, as after
    ``cp``; small files' packs are always synced)."""
    base = root.resolve()
    cached = cache.under(base) if cache is not None else {}
    remembered: list[tuple[str, Stamp, str]] = []
    placed: dict[int, DatasetFile] = {}
    large: list[int] = []  # files over PACK_LIMIT to store

    def probe(index: int) -> Probe:
        rel, path, st = entries[index]
        size = st.st_size
        stamp = (size, st.st_mtime_ns, st.st_ino)
        hit = cached.get(rel)
        if hit is not None and hit[0] == stamp:
            where = known.get(hit[1])
            if where is not None:
                remembered.append((rel, stamp, hit[1]))
                return index, hit[1], None, _at(rel, hit[1], size, where)
            if size > PACK_LIMIT and cas.exists(hit[1]):
                remembered.append((rel, stamp, hit[1]))
                return index, hit[1], None, DatasetFile(rel, hit[1], size)
        if size > PACK_LIMIT:  # stored after the small files, by store_large
            return index, "", None, None
        data = read_small(path, size)
        digest = hashlib.sha256(data).hexdigest()
        remembered.append((rel, stamp, digest))
        where = known.get(digest)
        if where is not None:
            return index, digest, None, _at(rel, digest, len(data), where)
        return index, digest, data, None

    def probe_many(indexes: range) -> list[Probe]:
        return [probe(i) for i in indexes]  # a few hundred files per task: little pool overhead

    total = sum(st.st_size for _, _, st in entries)
    done = 0
    if progress is not None:
        progress(0, total)
    with ThreadPoolExecutor(_THREADS) as pool, ThreadPoolExecutor(1) as writer:
        packer = _Packer(cas, writer)
        for start in range(0, len(entries), _CHUNK_FILES):
            end = min(len(entries), start + _CHUNK_FILES)
            tasks = _tasks(entries, start, end)
            for results in pool.map(probe_many, tasks):
                for index, digest, data, found in results:
                    if found is not None:
                        placed[index] = found
                    elif data is not None:
                        packer.add(index, entries[index][0], digest, data)
                    else:
                        large.append(index)
                        continue
                    done += entries[index][2].st_size
                if progress is not None:
                    progress(done, total)
        placed.update(packer.placed())

    def stored(f: chunks.LargeFile) -> None:
        nonlocal done
        done += f.size
        if progress is not None:
            progress(done, total)

    plans = [chunks.plan(i, entries[i][0], entries[i][1], entries[i][2].st_size) for i in large]
    stored_large, big_written = chunks.store_large(
        cas, plans, probe=bool(known), done=stored, durable=durable
    )
    for index, file in stored_large.items():
        st = entries[index][2]
        remembered.append((file.path, (st.st_size, st.st_mtime_ns, st.st_ino), file.digest))
    placed.update(stored_large)
    if cache is not None and remembered:
        cache.remember(base, remembered)
    return [placed[i] for i in range(len(entries))], len(packer.packs) + big_written
