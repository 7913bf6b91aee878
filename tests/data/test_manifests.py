"""A version's file list as one manifest: round trips (packs, big blobs, rows), damage refused,
bounded decoding, and garbage collection keeping exactly the blobs manifests need."""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from pathlib import Path

import pytest
from sqlalchemy import update

from shipyard.core.errors import IntegrityError
from shipyard.data.files import PACK_LIMIT
from shipyard.data.service import DatasetService
from shipyard.metadata.datasets import DatasetFile
from shipyard.metadata.sql.dataset_manifest import blobs_of, decode_manifest, encode_manifest
from shipyard.tracking.gc import collect_garbage

_FILES = (
    DatasetFile("b/x.txt", "1" * 64, 5, None, "a" * 64, 0),
    DatasetFile("a.parquet", "2" * 64, 500, 40),
    DatasetFile("b/y.txt", "3" * 64, 7, None, "a" * 64, 5),
    DatasetFile("c/é z.txt", "4" * 64, 0, None, "b" * 64, 12),
)


def test_a_manifest_round_trips_sorted_with_packs_and_rows() -> None:
    data, digest = encode_manifest(_FILES)
    assert decode_manifest(data, digest, 4, "d") == sorted(_FILES, key=lambda f: f.path)
    assert blobs_of(_FILES) == ["2" * 64, "a" * 64, "b" * 64]


def test_a_damaged_or_oversized_manifest_is_refused() -> None:
    data, digest = encode_manifest(_FILES)
    flipped = bytes([data[0] ^ 1]) + data[1:]
    with pytest.raises(IntegrityError, match=r"file list of datasets:/d/1 is damaged.*sha256"):
        decode_manifest(flipped, digest, 4, "datasets:/d/1")
    with pytest.raises(IntegrityError, match="wrong file count"):
        decode_manifest(data, digest, 3, "d")
    bomb = zlib.compress(b" " * (50 << 20))  # inflates far past what 4 files may take
    with pytest.raises(IntegrityError, match="larger than its file count allows"):
        decode_manifest(bomb, hashlib.sha256(bomb).hexdigest(), 4, "d")


def _folder(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "small.txt").write_text("small")
    (root / "big.bin").write_bytes(os.urandom(PACK_LIMIT + 1))


def test_a_version_damaged_in_the_database_is_refused_on_listing(
    service: DatasetService, tmp_path: Path
) -> None:
    from shipyard.metadata.sql.datasets_schema import dataset_versions

    _folder(tmp_path / "src")
    version = service.snapshot("d", tmp_path / "src").version
    data, _ = encode_manifest([DatasetFile("sub/small.txt", "0" * 64, 5, None, "f" * 64, 0)])
    engine = service.stores.metadata._engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(update(dataset_versions).values(manifest=data))  # not what the digest says
    with pytest.raises(IntegrityError, match="file list of datasets:/d/1 is damaged"):
        service.files(version)


def test_gc_keeps_the_blobs_of_manifest_versions_until_they_are_deleted(
    service: DatasetService, tmp_path: Path
) -> None:
    stores = service.stores
    _folder(tmp_path / "src")
    version = service.snapshot("d", tmp_path / "src").version
    files = service.files(version)
    needed = {f.pack or f.digest for f in files}
    assert len(needed) == 2 and needed <= stores.metadata.referenced_digests()
    past = time.time() - 10 * 86400
    for info in stores.artifacts.blobs.list_blobs("blobs/"):
        os.utime(stores.artifacts.blobs.local_path(info.key) or "", (past, past))
    assert collect_garbage(stores, min_age_s=86400).deleted == 0
    out = service.load(version, dest=tmp_path / "out")
    assert (out / "sub" / "small.txt").read_text() == "small"
    service.store.delete_version("d", 1)
    assert not needed & stores.metadata.referenced_digests()
    assert collect_garbage(stores, min_age_s=86400).deleted == 2
