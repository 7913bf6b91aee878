"""Turning a value or a path into the files of a dataset version, stored content-addressed.

- A DataFrame / Arrow table is cut into Parquet parts of about ``PART_BYTES`` (written the same way
  every time, so an unchanged part has the same digest and is not written again).
- A CSV file is read into a table first (stored as Parquet parts).
- A Parquet file, or a folder whose files are all Parquet, is stored as it is (a large file as
  row-group-aligned chunks, :mod:`shipyard.data.chunks`, so a changed or appended row group
  stores only its chunk); schema, row count and statistics come from the footers.
- Any other folder is stored file by file (``files`` kind).

Local files are stored by :mod:`shipyard.data.files` (hash cache, packs of small files, threads).
Blobs written for a snapshot that then fails are left unreferenced, for garbage collection; no
version is recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.artifacts.cas import ContentStore
from shipyard.core.errors import InvalidInputError
from shipyard.data.files import Progress, list_files, store_files
from shipyard.data.hashcache import HashCache
from shipyard.data.tables import columns_of, parquet_stats, table_stats, to_arrow
from shipyard.metadata.datasets import DatasetFile

if TYPE_CHECKING:
    import pyarrow as pa

PART_BYTES = 64 << 20  # target in-memory size of one Parquet part of a table
_THREADS = 8


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


def snapshot_path(
    cas: ContentStore,
    root: Path,
    column_tags: Mapping[str, Sequence[str]] | None,
    cache: HashCache | None,
    known: dict[str, DatasetFile],
    *,
    progress: Progress | None = None,
    durable: bool = False,
) -> Snapshot:
    """A CSV file, a Parquet file, a folder of Parquet files, or a folder of any files
    (``progress``, ``durable``: see :func:`~shipyard.data.files.store_files`)."""
    if root.is_file() and root.suffix.lower() in (".csv", ".tsv"):
        return snapshot_table(cas, _read_csv(root), column_tags, "csv")
    entries = list_files(root)
    files, written = store_files(cas, root, entries, cache, known, progress=progress, durable=durable)
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
    by_name: dict[str, str],
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
        with_rows.append(replace(f, rows=meta.num_rows))
    assert schema is not None
    columns = columns_of(schema, column_tags)
    rows = sum(m.num_rows for m in metas)
    fmt = "parquet"
    return Snapshot("table", fmt, with_rows, rows, columns, parquet_stats(metas), written)
