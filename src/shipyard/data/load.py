"""Reading a version back: files materialized lazily from the content store into a local cache
(verified against their digest while copied), then read as a table, as batches, or as a folder.

The cache (``<home>/cache/dataset-blobs/``) holds one file per digest; a cached file is trusted
only when its size matches the recorded one (it was verified when it was written there).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from shipyard.artifacts.cas import ContentStore, local_path, validate_digest
from shipyard.core.errors import IntegrityError, InvalidInputError
from shipyard.metadata.datasets import DatasetFile, chunks_digest

_STEP = 16 << 20  # bytes of a chunk read at a time while a file is put back together

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pds


def _sliced(data: bytes, file: DatasetFile, label: str) -> bytes:
    """A packed file's bytes out of its pack, checked against the file's own digest."""
    offset = file.offset or 0
    part = data[offset : offset + file.size]
    if len(part) != file.size or hashlib.sha256(part).hexdigest() != file.digest:
        raise IntegrityError(f"{label}: its bytes in pack {file.pack} do not match its sha256; refused")
    return part


def _chunks_of(file: DatasetFile, label: str) -> tuple[tuple[str, int], ...]:
    """A chunked file's chunks, checked against the file's digest and size."""
    assert file.chunks is not None
    if chunks_digest(file.chunks) != file.digest or sum(n for _, n in file.chunks) != file.size:
        raise IntegrityError(f"{label}: its chunk list does not match its digest and size; refused")
    return file.chunks


def file_bytes(cas: ContentStore, file: DatasetFile, label: str) -> bytes:
    """One file's verified bytes (from its blob or its verified chunks, or sliced out of its
    verified pack)."""
    if file.chunks is not None:
        parts = []
        for digest, size in _chunks_of(file, label):
            part = cas.get_bytes(validate_digest(digest), label)
            if len(part) != size:
                raise IntegrityError(f"{label}: chunk {digest} has {len(part)} bytes, {size} recorded")
            parts.append(part)
        return b"".join(parts)
    if file.pack is None:
        return cas.get_bytes(validate_digest(file.digest), label)
    return _sliced(cas.get_bytes(validate_digest(file.pack), label), file, label)


class Materializer:
    """Verified local copies of a version's blobs (and packs), one per digest, made on first use."""

    def __init__(self, cas: ContentStore, cache_dir: Path) -> None:
        self.cas = cas
        self.cache_dir = cache_dir

    def _blob(self, digest: str, label: str, size: int | None) -> Path:
        digest = validate_digest(digest)
        path = self.cache_dir / local_path(digest)
        if path.is_file() and (size is None or path.stat().st_size == size):
            return path
        self.cas.get_file(digest, path, label)
        if size is not None and path.stat().st_size != size:
            path.unlink(missing_ok=True)
            raise IntegrityError(f"{label}: {size} bytes recorded, the stored blob has another size")
        return path

    def read(self, file: DatasetFile, label: str) -> bytes:
        """A packed file's verified bytes, from the cached copy of its pack."""
        assert file.pack is not None
        with open(self._blob(file.pack, label, None), "rb") as pack:
            pack.seek(file.offset or 0)
            return _sliced(pack.read(file.size), DatasetFile(file.path, file.digest, file.size), label)

    def local(self, file: DatasetFile, label: str) -> Path:
        """A local, verified copy of the file's bytes (named by its digest)."""
        if file.chunks is not None:
            return self._assembled(file, label)
        if file.pack is None:
            return self._blob(file.digest, label, file.size)
        path = self.cache_dir / local_path(file.digest)
        if path.is_file() and path.stat().st_size == file.size:
            return path
        data = self.read(file, label)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    def _assembled(self, file: DatasetFile, label: str) -> Path:
        """A chunked file put back together, each chunk streamed and verified (a chunk that does
        not match its digest or size fails the load and leaves nothing in the cache)."""
        path = self.cache_dir / local_path(file.digest)
        if path.is_file() and path.stat().st_size == file.size:
            return path
        chunks = _chunks_of(file, label)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        try:
            with open(fd, "wb") as out:
                for digest, size in chunks:
                    with self.cas.open_verified(validate_digest(digest), label) as reader:
                        while data := reader.read(_STEP):
                            out.write(data)
                        reader.verify()
                        if reader.position != size:
                            raise IntegrityError(
                                f"{label}: chunk {digest} has {reader.position} bytes, {size} recorded"
                            )
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
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
        if f.pack is not None:
            target.write_bytes(mat.read(f, f"{label}/{f.path}"))
        else:
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
