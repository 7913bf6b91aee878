"""A version's file list as one manifest value (the DVC approach) instead of one row per file:
100,000 files are one compressed column, written and read in a fraction of a second.

The manifest is zlib-compressed JSON ``{"v": 1, "packs": [digest...], "files": [[path, digest,
size, rows, pack index or null, offset or null]...]}``, sorted by path; a manifest with chunked
files (large Parquet files stored as row-group-aligned chunks) is ``"v": 2`` and such a file's row
has a seventh element ``[[chunk digest, size]...]`` (a version-1 manifest still reads). The version
row keeps its sha256 (``manifest_digest``): a manifest that does not match it, does not decompress
within the size its file count allows (plus, for chunk lists, a few times its compressed size:
chunk digests are random hex and do not compress further), or does not parse is refused with
:class:`IntegrityError`, never half-read.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from typing import Any

from shipyard.core.errors import IntegrityError
from shipyard.metadata.datasets import DatasetFile, chunks_digest

_FORMAT = 1
_FORMAT_CHUNKED = 2
_CHUNK_RATIO = 4  # bound on how much chunk lists inflate (hex digests compress about 2x)
_PER_FILE = 1400  # bound on one file's encoded bytes (a path is at most 1024 bytes of UTF-8)


def encode_manifest(files: Sequence[DatasetFile]) -> tuple[bytes, str]:
    """(compressed manifest, its sha256) of ``files`` in path order."""
    packs: dict[str, int] = {}
    rows: list[list[Any]] = []
    for f in sorted(files, key=lambda f: f.path):
        row: list[Any] = [
            f.path,
            f.digest,
            f.size,
            f.rows,
            None if f.pack is None else packs.setdefault(f.pack, len(packs)),
            f.offset,
        ]
        if f.chunks is not None:
            row.append([[d, n] for d, n in f.chunks])
        rows.append(row)
    fmt = _FORMAT_CHUNKED if any(f.chunks is not None for f in files) else _FORMAT
    text = json.dumps({"v": fmt, "packs": list(packs), "files": rows}, separators=(",", ":")).encode()
    data = zlib.compress(text, 1)
    if len(text) > _bound(len(files), len(data)):  # e.g. many identical chunks: store it unpacked
        data = zlib.compress(text, 0)
    return data, hashlib.sha256(data).hexdigest()


def _bound(num_files: int, compressed: int) -> int:
    """The most a manifest of ``num_files`` files, ``compressed`` bytes long, may inflate to."""
    return _PER_FILE * (num_files + 1) + 1024 + _CHUNK_RATIO * compressed


def blobs_of(files: Sequence[DatasetFile]) -> list[str]:
    """The blobs a version needs (each pack once, each unpacked file's blob, each chunk), sorted."""
    found: set[str] = set()
    for f in files:
        if f.chunks is not None:
            found.update(d for d, _ in f.chunks)
        else:
            found.add(f.digest if f.pack is None else f.pack)
    return sorted(found)


def _file(row: list[Any], packs: list[str]) -> DatasetFile:
    p, d, s, r, k, o, *more = row
    chunks = None
    if more:
        (listed,) = more
        chunks = tuple((str(cd), int(cs)) for cd, cs in listed)
    return DatasetFile(
        str(p),
        str(d),
        int(s),
        None if r is None else int(r),
        None if k is None else packs[k],
        None if o is None else int(o),
        chunks,
    )


def decode_manifest(data: bytes, digest: str, num_files: int, label: str) -> list[DatasetFile]:
    """The files of a manifest, verified against its digest; IntegrityError naming ``label``."""
    damaged = f"the file list of {label} is damaged"
    if hashlib.sha256(data).hexdigest() != digest:
        raise IntegrityError(f"{damaged}: it does not match its recorded sha256; refused")
    try:
        inflate = zlib.decompressobj()
        text = inflate.decompress(data, _bound(num_files, len(data)))
        if inflate.unconsumed_tail or not inflate.eof:
            raise ValueError("larger than its file count allows")
        doc: Any = json.loads(text)
        packs = [str(p) for p in doc["packs"]]
        files = [_file(row, packs) for row in doc["files"]]
    except (zlib.error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise IntegrityError(f"{damaged}: {exc}; refused") from None
    if doc.get("v") not in (_FORMAT, _FORMAT_CHUNKED) or len(files) != num_files:
        raise IntegrityError(f"{damaged}: unknown format or wrong file count; refused")
    if any(f.chunks is not None and chunks_digest(f.chunks) != f.digest for f in files):
        raise IntegrityError(f"{damaged}: a chunked file's digest does not match its chunks; refused")
    return files
