"""A local file into a local store (``ContentStore.put_file`` -> ``artifacts/_copy.py``): copied in
the kernel step by step, hashed from the copy, its writeback started every few MB, and read back
verified; the read/write fallback where the kernel copy is refused."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

import shipyard.artifacts._copy as copying
from shipyard.artifacts.backends.local import LocalBackend
from shipyard.artifacts.cas import ContentStore

STEP = 1 << 14  # small steps: a 1 MB file crosses many of them
WRITEBACK = 1 << 16


@pytest.fixture
def cas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ContentStore:
    monkeypatch.setattr(copying, "STEP", STEP)
    monkeypatch.setattr(copying, "WRITEBACK", WRITEBACK)
    return ContentStore(LocalBackend(tmp_path / "store"))


def _source(tmp_path: Path, size: int = (1 << 20) + 12_345) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "data.parquet"
    path.write_bytes(data)
    return path, data


def _staged(cas: ContentStore) -> list[str]:
    staging = cas.blobs.staging_dir()
    assert staging is not None
    return sorted(p.name for p in staging.iterdir())


def test_a_file_over_many_steps_is_stored_under_its_sha256_and_reads_back_verified(
    cas: ContentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advised: list[tuple[int, int]] = []
    real_advise = os.posix_fadvise

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        advised.append((offset, length))
        real_advise(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", advise)
    path, data = _source(tmp_path)
    digest, size = cas.put_file(path)
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert cas.get_bytes(digest) == data
    assert _staged(cas) == []  # the temp file became the blob
    # the writeback of every WRITEBACK bytes was started once they were hashed, in order
    assert advised == [(i * WRITEBACK, WRITEBACK) for i in range(len(data) // WRITEBACK)]
    again, _ = cas.put_file(path)  # the same bytes: the same blob, nothing left behind
    assert again == digest and _staged(cas) == []


@pytest.mark.parametrize("refused_after", [0, 3])
def test_where_the_kernel_refuses_the_copy_the_steps_are_read_and_written(
    cas: ContentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused_after: int
) -> None:
    """EXDEV (two filesystems) from the first call or midway: the rest is read and written from
    the same offsets, and the digest and bytes are still the file's."""
    calls = [0]
    real_copy = os.copy_file_range

    def copy(src: int, dst: int, count: int) -> int:
        calls[0] += 1
        if calls[0] > refused_after:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_copy(src, dst, count)

    monkeypatch.setattr(os, "copy_file_range", copy)
    path, data = _source(tmp_path)
    digest, size = cas.put_file(path)
    assert calls[0] == refused_after + 1  # refused once, then never asked again
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert cas.get_bytes(digest) == data


def test_the_digest_is_of_the_bytes_stored_even_when_the_source_changes_meanwhile(
    cas: ContentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer rewriting the source during the copy never leaves a blob that fails its hash."""
    path, data = _source(tmp_path)
    real_copy = os.copy_file_range
    calls = [0]

    def copy(src: int, dst: int, count: int) -> int:
        calls[0] += 1
        if calls[0] == 4:  # the rest of the file changes under the copy
            with open(path, "r+b") as f:
                f.seek(4 * STEP)
                f.write(b"\xff" * (len(data) - 4 * STEP))
        return real_copy(src, dst, count)

    monkeypatch.setattr(os, "copy_file_range", copy)
    digest, size = cas.put_file(path)
    stored = cas.get_bytes(digest)  # verified read: raises on a mismatch
    assert hashlib.sha256(stored).hexdigest() == digest and len(stored) == size
    assert stored[: 3 * STEP] == data[: 3 * STEP]


def test_a_failed_copy_leaves_no_temp_file_and_no_blob(
    cas: ContentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.core.errors import StorageError

    def copy(src: int, dst: int, count: int) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "copy_file_range", copy)
    path, _ = _source(tmp_path)
    with pytest.raises(StorageError) as raised:
        cas.put_file(path)
    assert "\n" not in str(raised.value)
    assert _staged(cas) == []
    assert not list((tmp_path / "store").glob("blobs/sha256/*/*"))


@pytest.mark.parametrize("kernel", [True, False])
def test_a_range_is_copied_from_its_offset_and_the_file_position_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: bool
) -> None:
    """Ranges of one open file (a Parquet file's row groups) are copied by several threads: each
    from its own offset, by the kernel or (refused) read and written the same way."""
    if not kernel:

        def refuse(*args: int) -> int:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", refuse)
    path, data = _source(tmp_path)
    src = os.open(path, os.O_RDONLY)
    dst = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        offset, length = 12_345, len(data) // 2
        digest, size = copying.copy_hashed(src, dst, offset, length, writeback=False)
        assert os.lseek(src, 0, os.SEEK_CUR) == 0
        assert (tmp_path / "out").read_bytes() == data[offset : offset + length]
        assert (digest, size) == (hashlib.sha256(data[offset : offset + length]).hexdigest(), length)
        assert copying.hash_range(src, offset, length) == (digest, length)
        assert copying.hash_range(src, len(data) - 10, 100)[1] == 10  # fewer at the file's end
    finally:
        os.close(src)
        os.close(dst)
