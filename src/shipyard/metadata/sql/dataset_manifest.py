"""A version's file list as one manifest value (the DVC approach) instead of one row per file:
100,000 files are one compressed column, written and read in a fraction of a second.

The manifest is zlib-compressed JSON ``{"v": 1, "packs": [digest...], "files": [[path, digest,
size, rows, pack index or null, offset or null]...]}``, sorted by path. The version row keeps its
sha256 (``manifest_digest``): a manifest that does not match it, does not decompress within the
size its file count allows, or does not parse is refused with :class:`IntegrityError`, never
half-read.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from typing import Any

from shipyard.core.errors import IntegrityError
from shipyard.metadata.datasets import DatasetFile

_FORMAT = 1
_PER_FILE = 1400  # bound on one file's encoded bytes (a path is at most 1024 bytes of UTF-8)


def encode_manifest(files: Sequence[DatasetFile]) -> tuple[bytes, str]:
    """(compressed manifest, its sha256) of ``files`` in path order."""
    packs: dict[str, int] = {}
    rows = [
        [
            f.path,
            f.digest,
            f.size,
            f.rows,
            None if f.pack is None else packs.setdefault(f.pack, len(packs)),
            f.offset,
        ]
        for f in sorted(files, key=lambda f: f.path)
    ]
    text = json.dumps({"v": _FORMAT, "packs": list(packs), "files": rows}, separators=(",", ":"))
    data = zlib.compress(text.encode(), 1)
    return data, hashlib.sha256(data).hexdigest()


def blobs_of(files: Sequence[DatasetFile]) -> list[str]:
    """The blobs a version needs (each pack once, each unpacked file's blob), sorted."""
    return sorted({f.digest if f.pack is None else f.pack for f in files})


def decode_manifest(data: bytes, digest: str, num_files: int, label: str) -> list[DatasetFile]:
    """The files of a manifest, verified against its digest; IntegrityError naming ``label``."""
    damaged = f"the file list of {label} is damaged"
    if hashlib.sha256(data).hexdigest() != digest:
        raise IntegrityError(f"{damaged}: it does not match its recorded sha256; refused")
    try:
        inflate = zlib.decompressobj()
        text = inflate.decompress(data, _PER_FILE * (num_files + 1) + 1024)
        if inflate.unconsumed_tail or not inflate.eof:
            raise ValueError("larger than its file count allows")
        doc: Any = json.loads(text)
        packs = [str(p) for p in doc["packs"]]
        files = [
            DatasetFile(
                str(p),
                str(d),
                int(s),
                None if r is None else int(r),
                None if k is None else packs[k],
                None if o is None else int(o),
            )
            for p, d, s, r, k, o in doc["files"]
        ]
    except (zlib.error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise IntegrityError(f"{damaged}: {exc}; refused") from None
    if doc.get("v") != _FORMAT or len(files) != num_files:
        raise IntegrityError(f"{damaged}: unknown format or wrong file count; refused")
    return files
