"""Storing a folder file by file: packs (several, written in the background), duplicates packed
once, names checked, links swapped in after the listing refused, a failed pack leaves no version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.core.errors import InvalidInputError, StorageError
from shipyard.data import files as filestore
from shipyard.data.service import DatasetService
from tests.data.conftest import CountingBackend


def _folder(root: Path, n: int, size: int = 100) -> dict[str, bytes]:
    written = {}
    for i in range(n):
        folder = root / f"{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        data = (f"{i:04d}".encode() * size)[:size]
        (folder / f"{i}.bin").write_bytes(data)
        written[f"{i % 3}/{i}.bin"] = data
    return written


def test_many_files_fill_several_packs_and_load_back_verified(
    service: DatasetService, writes: CountingBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filestore, "PACK_BYTES", 1000)  # ten 100-byte files per pack
    monkeypatch.setattr(filestore, "_PER_TASK", 7)  # results arrive from many tasks, out of step
    src = tmp_path / "src"
    written = _folder(src, 95)
    result = service.snapshot("many", src)
    listed = service.files(result.version)
    assert [f.path for f in listed] == sorted(written)
    assert result.written == writes.writes == 10
    assert len({f.pack for f in listed}) == 10
    out = service.load(result.version, dest=tmp_path / "out")
    assert {p: (out / p).read_bytes() for p in written} == written


def test_a_duplicate_file_is_packed_once_even_across_packs(
    service: DatasetService, writes: CountingBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filestore, "PACK_BYTES", 20)  # a.txt and b.txt fill the first pack
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"same bytes")
    (src / "b.txt").write_bytes(b"other bytes!")
    (src / "c.txt").write_bytes(b"same bytes")
    result = service.snapshot("dups", src)
    listed = {f.path: f for f in service.files(result.version)}
    assert (listed["c.txt"].pack, listed["c.txt"].offset) == (listed["a.txt"].pack, listed["a.txt"].offset)
    assert result.written == writes.writes == 1
    pack = service.stores.artifacts.cas.get_bytes(listed["a.txt"].pack or "")
    assert pack == b"same bytesother bytes!"
    out = service.load(result.version, dest=tmp_path / "out")
    assert (out / "c.txt").read_bytes() == b"same bytes"


def test_names_with_control_characters_are_refused(service: DatasetService, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_text("x")
    (src / "bad\x07name.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="control characters"):
        service.snapshot("names", src)


def test_a_link_swapped_in_after_listing_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_text("do not read")
    path = tmp_path / "f.txt"
    path.symlink_to(target)
    with pytest.raises(InvalidInputError, match=r"cannot snapshot .*f\.txt"):
        filestore.read_small(str(path), 100)


def test_read_small_reads_a_file_that_grew_after_its_stat(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 5000)
    assert filestore.read_small(str(path), 10) == b"x" * 5000  # 10 was the (stale) listed size


def test_a_failed_pack_write_leaves_no_version(
    service: DatasetService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    _folder(src, 5)
    service.snapshot("d", src)
    (src / "0" / "new.bin").write_bytes(os.urandom(50))

    def broken(*args: object, **kwargs: object) -> str:
        raise StorageError("disk full")

    monkeypatch.setattr(service.stores.artifacts.cas, "put_bytes", broken)
    with pytest.raises(StorageError, match="disk full"):
        service.snapshot("d", src)
    assert [v.version for v in service.store.list_versions("d")] == [1]


def test_a_damaged_hash_cache_row_is_ignored(tmp_path: Path) -> None:
    from shipyard.data.hashcache import HashCache

    cache = HashCache(tmp_path / "cache.db")
    cache.remember(tmp_path, [("a.txt", (1, 2, 3), "d" * 64)])
    assert cache.under(tmp_path) == {"a.txt": ((1, 2, 3), "d" * 64)}
    with cache._db:
        cache._db.execute("UPDATE roots SET entries = ?", (b"not zlib",))
    assert cache.under(tmp_path) == {}
    cache.close()


def test_large_files_are_stored_side_by_side(
    service: DatasetService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each large file is its own thread-pool task (not 256 files to a task), so a folder of a
    few big Parquet files is copied and hashed on several threads at once."""
    import threading

    monkeypatch.setattr(filestore, "_TASK_BYTES", 64 << 10)
    src = tmp_path / "big"
    src.mkdir()
    for i in range(4):
        (src / f"part-{i}.bin").write_bytes(os.urandom(100 << 10) + bytes([i]))
    together = threading.Barrier(4, timeout=10)  # broken unless four copies run at once
    cas = service.stores.artifacts.cas
    real = type(cas).put_file

    def put_file(self: object, path: Path) -> tuple[str, int]:
        together.wait()
        return real(self, path)  # type: ignore[arg-type]

    monkeypatch.setattr(type(cas), "put_file", put_file)
    result = service.snapshot("big", src)
    assert result.written == 4 and not together.broken
    assert [f.path for f in service.files(result.version)] == [f"part-{i}.bin" for i in range(4)]
    small = os.stat_result((0o100644, 1, 1, 1, 0, 0, 100, 0, 0, 0))  # 100 bytes
    assert filestore._tasks([("a", "a", small)] * 600, 0, 600) == [
        range(0, 256),
        range(256, 512),
        range(512, 600),
    ]
