"""Turning a value or a path into the files of a dataset version, stored content-addressed.

- A DataFrame / Arrow table is cut into Parquet parts of about ``PART_BYTES`` (written the same way
  every time, so an unchanged part has the same digest and is not written again).
- A CSV file is read into a table first (stored as Parquet parts).
- A Parquet file, or a folder whose files are all Parquet, is stored as it is (one blob per file);
  schema, row count and statistics come from the footers.
- Any other folder is stored file by file (``files`` kind).

Local files go through :class:`~shipyard.data.hashcache.HashCache`: a file whose size, mtime and
inode did not change, and whose blob is stored, is neither read nor written. Files are stored on a
few threads. Blobs written for a snapshot that then fails are left unreferenced, for garbage
collection; no version is recorded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.artifacts.cas import ContentStore
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.data.hashcache import HashCache, Stamp, stamp_of
from shipyard.data.tables import columns_of, parquet_stats, table_stats, to_arrow
from shipyard.metadata.datasets import DatasetFile

if TYPE_CHECKING:
    import pyarrow as pa

PART_BYTES = 64 << 20  # target in-memory size of one Parquet part of a table
PACK_LIMIT = 64 << 10  # new files up to this size are stored in pack blobs
PACK_BYTES = 64 << 20  # a pack blob is closed at about this size
_CHUNK_FILES = 4096  # files probed (read and hashed) at a time
_PER_TASK = 256  # files per thread-pool task
_THREADS = 8
_MAX_PATH = 1024


@dataclass
class Snapshot:
    """What a version is made of, before it is recorded."""

    kind: str
    source_format: str
    files: list[DatasetFile]
    num_rows: int | None = None
    columns: tuple[dict[str, Any], ...] = ()
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    written: int = 0  # blobs written (0 for an unchanged re-snapshot)


def snapshot_table(
    cas: ContentStore,
    value: Any,
    column_tags: Mapping[str, Sequence[str]] | None,
    source_format: str | None = None,
) -> Snapshot:
    table, fmt = to_arrow(value)
    columns = columns_of(table.schema, column_tags)
    files, written = _store_parts(cas, table)
    return Snapshot(
        "table", source_format or fmt, files, table.num_rows, columns, table_stats(table), written
    )


def _store_parts(cas: ContentStore, table: pa.Table) -> tuple[list[DatasetFile], int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    per_row = max(1, table.nbytes // max(1, table.num_rows))
    rows_per_part = max(1, PART_BYTES // per_row)
    starts = list(range(0, table.num_rows, rows_per_part)) or [0]

    def store(index: int) -> tuple[DatasetFile, bool]:
        part = table.slice(starts[index], rows_per_part)
        sink = pa.BufferOutputStream()
        pq.write_table(part, sink, compression="zstd", row_group_size=max(1, part.num_rows))
        data = memoryview(sink.getvalue())
        digest = hashlib.sha256(data).hexdigest()
        new = not cas.exists(digest)
        cas.put_small(data, digest)
        return DatasetFile(f"part-{index:05d}.parquet", digest, data.nbytes, part.num_rows), new

    with ThreadPoolExecutor(min(_THREADS, len(starts))) as pool:
        done = list(pool.map(store, range(len(starts))))
    return [f for f, _ in done], sum(new for _, new in done)


def _checked(rel: str, path: str) -> str:
    if len(rel.encode()) > _MAX_PATH or any(ord(ch) < 32 for ch in rel):
        raise InvalidInputError(f"cannot snapshot {path}: its name is too long or has control characters")
    return rel


def list_files(root: Path) -> list[tuple[str, Path, os.stat_result]]:
    """(relative path, path, stat) of every regular file under ``root``, sorted; links refused.
    Walked with ``os.scandir`` (one ``lstat`` per entry)."""
    if not root.exists():
        raise NotFoundError(f"cannot snapshot {root}: no such file or folder; check the path")
    if root.is_symlink():
        raise InvalidInputError(f"cannot snapshot {root}: it is a symbolic link; give the real path")
    if root.is_file():
        return [(_checked(root.name, str(root)), root, root.stat())]
    found: list[tuple[str, Path, os.stat_result]] = []
    pending = [("", str(root))]
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_symlink():
                    raise InvalidInputError(f"cannot snapshot {root}: {entry.path} is a symbolic link")
                if entry.is_dir(follow_symlinks=False):
                    pending.append((rel + "/", entry.path))
                elif entry.is_file(follow_symlinks=False):
                    found.append(
                        (_checked(rel, entry.path), Path(entry.path), entry.stat(follow_symlinks=False))
                    )
                else:
                    raise InvalidInputError(f"cannot snapshot {root}: {entry.path} is not a regular file")
    if not found:
        raise InvalidInputError(f"cannot snapshot {root}: the folder has no files")
    return sorted(found, key=lambda t: t[0])


class _Packer:
    """Gathers new small files into pack blobs of about ``PACK_BYTES`` (one write, one fsync for
    thousands of files); each file keeps its own sha256 and is located by (pack, offset)."""

    def __init__(self, cas: ContentStore) -> None:
        self.cas = cas
        self.buffer = bytearray()
        self.members: list[tuple[int, str, str, int, int]] = []  # index, path, digest, size, offset
        self.offsets: dict[str, int] = {}  # digest -> offset in the open pack
        self.placed: dict[int, DatasetFile] = {}
        self.written = 0

    def add(self, index: int, rel: str, digest: str, data: bytes) -> None:
        offset = self.offsets.get(digest)
        if offset is None:
            offset = self.offsets[digest] = len(self.buffer)
            self.buffer += data
        self.members.append((index, rel, digest, len(data), offset))
        if len(self.buffer) >= PACK_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.members:
            return
        pack = self.cas.put_bytes(memoryview(self.buffer))
        self.written += 1
        for index, rel, digest, size, offset in self.members:
            self.placed[index] = DatasetFile(rel, digest, size, None, pack, offset)
        self.buffer, self.members, self.offsets = bytearray(), [], {}


def store_files(
    cas: ContentStore,
    root: Path,
    entries: list[tuple[str, Path, os.stat_result]],
    cache: HashCache | None,
    known: dict[str, DatasetFile],
) -> tuple[list[DatasetFile], int]:
    """Store ``entries`` (from :func:`list_files` of ``root``); (files, blobs written).

    ``known`` maps digests to where the dataset's latest version keeps them: such files are
    neither written nor (when the hash cache vouches for them) read. New files up to
    ``PACK_LIMIT`` go into pack blobs, larger ones are blobs of their own."""
    base, is_dir = root.resolve(), root.is_dir()
    cached = cache.under(base) if cache is not None else {}
    remembered: list[tuple[str, Stamp, str]] = []
    packer = _Packer(cas)
    placed: dict[int, DatasetFile] = {}
    big_written = 0

    def probe(index: int) -> tuple[int, str, bytes | None, DatasetFile | None, bool]:
        """(index, digest, bytes to pack or None, the placed file or None, whether a blob was written)"""
        rel, path, st = entries[index]
        stamp = stamp_of(st)
        key = f"{base}/{rel}" if is_dir else str(base)
        hit = cached.get(key)
        if hit is not None and hit[0] == stamp:
            where = known.get(hit[1])
            if where is not None:
                return (
                    index,
                    hit[1],
                    None,
                    DatasetFile(rel, hit[1], st.st_size, None, where.pack, where.offset),
                    False,
                )
            if st.st_size > PACK_LIMIT and cas.exists(hit[1]):
                return index, hit[1], None, DatasetFile(rel, hit[1], st.st_size), False
        if st.st_size > PACK_LIMIT:
            digest, size = cas.put_file(path)
            remembered.append((key, stamp, digest))
            return index, digest, None, DatasetFile(rel, digest, size), True
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        remembered.append((key, stamp, digest))
        where = known.get(digest)
        if where is not None:
            return (
                index,
                digest,
                None,
                DatasetFile(rel, digest, len(data), None, where.pack, where.offset),
                False,
            )
        return index, digest, data, None, False

    def probe_many(indexes: range) -> list[tuple[int, str, bytes | None, DatasetFile | None, bool]]:
        return [probe(i) for i in indexes]  # a few hundred files per task: little pool overhead

    with ThreadPoolExecutor(_THREADS) as pool:
        for start in range(0, len(entries), _CHUNK_FILES):
            end = min(len(entries), start + _CHUNK_FILES)
            tasks = [range(i, min(end, i + _PER_TASK)) for i in range(start, end, _PER_TASK)]
            for index, digest, data, found, wrote in (r for rs in pool.map(probe_many, tasks) for r in rs):
                big_written += wrote
                if found is not None:
                    placed[index] = found
                elif data is not None:
                    packer.add(index, entries[index][0], digest, data)
    packer.flush()
    placed.update(packer.placed)
    if cache is not None and remembered:
        cache.remember(remembered)
    return [placed[i] for i in range(len(entries))], packer.written + big_written


def snapshot_path(
    cas: ContentStore,
    root: Path,
    column_tags: Mapping[str, Sequence[str]] | None,
    cache: HashCache | None,
    known: dict[str, DatasetFile],
) -> Snapshot:
    """A CSV file, a Parquet file, a folder of Parquet files, or a folder of any files."""
    if root.is_file() and root.suffix.lower() in (".csv", ".tsv"):
        return snapshot_table(cas, _read_csv(root), column_tags, "csv")
    entries = list_files(root)
    files, written = store_files(cas, root, entries, cache, known)
    by_name = {rel: path for rel, path, _ in entries}
    if all(f.path.lower().endswith(".parquet") for f in files):
        return _parquet_snapshot(files, by_name, column_tags, written)
    if column_tags:
        raise InvalidInputError("column_tags apply to tables; this folder holds files that are not Parquet")
    return Snapshot("files", "folder", files, written=written)


def _read_csv(path: Path) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    options = pcsv.ParseOptions(delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        return pcsv.read_csv(path, parse_options=options)
    except pa.ArrowInvalid as exc:
        raise InvalidInputError(f"cannot read {path} as CSV: {str(exc).splitlines()[0]}") from None


def _parquet_snapshot(
    files: list[DatasetFile],
    by_name: dict[str, Path],
    column_tags: Mapping[str, Sequence[str]] | None,
    written: int,
) -> Snapshot:
    import pyarrow as pa
    import pyarrow.parquet as pq

    metas, schema, with_rows = [], None, []
    for f in files:
        try:
            meta = pq.read_metadata(by_name[f.path])
            file_schema = meta.schema.to_arrow_schema()
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInputError(f"cannot read {by_name[f.path]} as Parquet: {exc}") from None
        if schema is None:
            schema = file_schema
        elif not file_schema.remove_metadata().equals(schema.remove_metadata()):
            raise InvalidInputError(
                f"the Parquet files disagree on the schema ({f.path} differs from {files[0].path}); "
                "snapshot them as separate datasets or rewrite them with one schema"
            )
        metas.append(meta)
        with_rows.append(DatasetFile(f.path, f.digest, f.size, meta.num_rows))
    assert schema is not None
    columns = columns_of(schema, column_tags)
    rows = sum(m.num_rows for m in metas)
    fmt = "parquet"
    return Snapshot("table", fmt, with_rows, rows, columns, parquet_stats(metas), written)
