"""Large dataset files are stored under BLAKE3 digests (``blake3:<hex>``, ``blobs/blake3/...``),
verified on every read like sha256 blobs, collected by garbage collection when unreferenced, and
made durable before the version is recorded only when asked (``durable=True``)."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest

from shipyard.artifacts import staged
from shipyard.artifacts.backends import local
from shipyard.artifacts.cas import blob_key, digest_of_key, local_path, validate_digest
from shipyard.core.errors import IntegrityError, InvalidInputError
from shipyard.data.load import Materializer
from shipyard.data.service import DatasetService
from shipyard.tracking.gc import collect_garbage
from shipyard.tracking.stores import Stores

HEX = "ab" * 32


def _big(path: Path, size: int = 300_000, seed: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes((i * seed + i // 7) % 251 for i in range(size)))
    return path


def test_digest_forms_keys_and_cache_paths() -> None:
    assert validate_digest(HEX) == HEX
    assert validate_digest(f"blake3:{HEX}") == f"blake3:{HEX}"
    for bad in (f"sha256:{HEX}", f"BLAKE3:{HEX}", f"blake3:{HEX[:-1]}", f"blake3:{HEX}0", f"blake3/{HEX}"):
        with pytest.raises(InvalidInputError, match="not a content digest"):
            validate_digest(bad)
    assert blob_key(HEX) == f"blobs/sha256/ab/{HEX[2:]}"
    assert blob_key(f"blake3:{HEX}") == f"blobs/blake3/ab/{HEX[2:]}"
    for digest in (HEX, f"blake3:{HEX}"):
        assert digest_of_key(blob_key(digest)) == digest
    assert digest_of_key(f"blobs/blake3/{HEX}") is None  # not the layout: never collected
    assert digest_of_key(f"blobs/md5/ab/{HEX[2:]}") is None
    assert ":" not in local_path(f"blake3:{HEX}") and local_path(HEX) == f"ab/{HEX}"


def test_a_large_file_is_stored_under_its_blake3_digest_and_verified_on_load(
    service: DatasetService, stores: Stores, tmp_path: Path
) -> None:
    src = _big(tmp_path / "src" / "weights.bin")
    _big(tmp_path / "src" / "small.txt", 100)
    version = service.snapshot("w", src.parent).version
    files = {f.path: f for f in service.files(version)}
    big, small = files["weights.bin"], files["small.txt"]
    assert big.digest == "blake3:" + blake3.blake3(src.read_bytes()).hexdigest()
    assert not small.digest.startswith("blake3:")  # small files are packed under sha256, as before
    blob = Path(stores.artifacts.blobs.location) / blob_key(big.digest)
    assert blob.read_bytes() == src.read_bytes()
    out = service.load(version, output="path", dest=tmp_path / "out")
    assert (out / "weights.bin").read_bytes() == src.read_bytes()

    data = bytearray(blob.read_bytes())
    data[1000] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="hash to blake3"):
        Materializer(stores.artifacts.cas, tmp_path / "cache").local(big, "w/weights.bin")


def test_an_unchanged_resnapshot_finds_the_blake3_blob_and_writes_nothing(
    service: DatasetService, stores: Stores, tmp_path: Path
) -> None:
    src = _big(tmp_path / "src" / "weights.bin")
    first = service.snapshot("w", src.parent)
    (stores.settings.home / "cache" / "file-hashes.db").unlink()  # forget the hashes: probe by content
    again = service.snapshot("w", src.parent)
    assert first.written == 1 and again.written == 0
    assert service.files(again.version)[0].digest == service.files(first.version)[0].digest


def test_unreferenced_blake3_blobs_are_collected_and_referenced_ones_kept(
    service: DatasetService, stores: Stores, tmp_path: Path
) -> None:
    kept = service.files(service.snapshot("w", _big(tmp_path / "src" / "a.bin").parent).version)[0]
    with stores.artifacts.cas.writer("blake3") as out:
        out.write(os.urandom(300_000))
        orphan, _ = out.commit()
    assert orphan.startswith("blake3:") and stores.artifacts.cas.exists(orphan)
    report = collect_garbage(stores, min_age_s=0)
    assert report.deleted >= 1
    assert not stores.artifacts.cas.exists(orphan)
    assert stores.artifacts.cas.exists(kept.digest)


def test_only_a_durable_snapshot_waits_for_the_disk(
    service: DatasetService, stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []  # blob temp files and folders fsynced
    real_fsync, real_dir = staged._fsync, local._fsync_dir

    def fsync(path: Path) -> None:
        synced.append(path)
        real_fsync(path)

    def fsync_dir(path: Path) -> None:
        synced.append(path)
        real_dir(path)

    monkeypatch.setattr(staged, "_fsync", fsync)
    monkeypatch.setattr(local, "_fsync_dir", fsync_dir)
    root = Path(stores.artifacts.blobs.location)
    for name, durable in (("lazy", False), ("safe", True)):
        synced.clear()
        src = _big(tmp_path / name / "a.bin", seed=3 if durable else 5)
        (file,) = service.files(service.snapshot(name, src.parent, durable=durable).version)
        folder = (root / blob_key(file.digest)).parent
        blob_temps = [p for p in synced if p.name.endswith(".blob")]
        if durable:  # the blob fsynced before it was adopted under its key, its folder after
            assert len(blob_temps) == 1 and folder in synced
        else:  # the kernel writes it back later, as after cp (small writes are synced either way)
            assert blob_temps == [] and folder not in synced
            tree = root / "blobs" / "blake3"  # nor the folders made for it
            assert not [p for p in synced if p == tree or tree in p.parents], synced
