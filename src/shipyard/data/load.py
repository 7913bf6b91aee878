"""Reading a version back: files materialized lazily from the content store into a local cache
(verified against their digest while copied), then read as a table, as batches, or as a folder.

The cache (``<home>/cache/dataset-blobs/``) holds one file per digest; a cached file is trusted
only when its size matches the recorded one (it was verified when it was written there).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from shipyard.artifacts.cas import ContentStore, validate_digest
from shipyard.core.errors import IntegrityError, InvalidInputError
from shipyard.metadata.datasets import DatasetFile

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pds


class Materializer:
    """Verified local copies of a version's blobs, one per digest, made on first use."""

    def __init__(self, cas: ContentStore, cache_dir: Path) -> None:
        self.cas = cas
        self.cache_dir = cache_dir

    def local(self, file: DatasetFile, label: str) -> Path:
        digest = validate_digest(file.digest)
        path = self.cache_dir / digest[:2] / digest
        if path.is_file() and path.stat().st_size == file.size:
            return path
        self.cas.get_file(digest, path, label)
        if path.stat().st_size != file.size:
            path.unlink(missing_ok=True)
            raise IntegrityError(f"{label}: {file.size} bytes recorded, the stored blob has another size")
        return path


def safe_relative(path: str) -> PurePosixPath:
    """A version's file path as a relative path that stays inside the destination."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or not rel.parts or any(p in ("..", ".", "") for p in rel.parts) or "\\" in path:
        raise IntegrityError(f"a dataset file path {path!r} would leave the destination folder; refused")
    return rel


def to_folder(mat: Materializer, files: Sequence[DatasetFile], dest: Path, label: str) -> Path:
    """Copy every file (verified) to ``dest``/its path."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = dest.joinpath(*safe_relative(f.path).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mat.local(f, f"{label}/{f.path}"), target)
    return dest


def _dataset(paths: list[Path]) -> pds.Dataset:
    import pyarrow.dataset as pds

    return pds.dataset([str(p) for p in paths], format="parquet")


def _check_columns(schema: pa.Schema, columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise InvalidInputError(
            f"the dataset has no column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(schema.names[:30])}"
        )
    return list(columns)


def read_table(
    mat: Materializer,
    files: Sequence[DatasetFile],
    label: str,
    columns: Sequence[str] | None = None,
    where: pc.Expression | None = None,
) -> pa.Table:
    paths = [mat.local(f, f"{label}/{f.path}") for f in files]
    data = _dataset(paths)
    return data.to_table(columns=_check_columns(data.schema, columns), filter=where)


def iter_batches(
    mat: Materializer,
    files: Sequence[DatasetFile],
    label: str,
    columns: Sequence[str] | None = None,
    where: pc.Expression | None = None,
    *,
    batch_size: int = 65_536,
) -> Iterator[pa.RecordBatch]:
    """Record batches, one file at a time: a file is fetched only when the stream reaches it."""
    for f in files:
        data = _dataset([mat.local(f, f"{label}/{f.path}")])
        cols = _check_columns(data.schema, columns)
        yield from data.to_batches(columns=cols, filter=where, batch_size=batch_size)


def as_output(table: pa.Table, output: str) -> Any:
    if output == "arrow":
        return table
    return table.to_pandas()
