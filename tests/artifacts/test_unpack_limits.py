"""Folder artifacts unpack within bounds and leave nothing behind when they fail (issue 12, holes
5 and 11): sparse members, oversized declared sizes and too many entries are refused before
anything is allocated or written, and a failed load removes the temp folder it made."""

from __future__ import annotations

import io
import tarfile
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.artifacts.backends.local import LocalBackend
from shipyard.artifacts.cas import blob_key
from shipyard.artifacts.store import ArtifactStore, StoredObject
from shipyard.core.errors import IntegrityError, SerializationError, ShipyardError
from tests.registry import hostile


@pytest.fixture
def tmpdir_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty TMPDIR for the test (so leftovers can be counted)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _as_dir(store: ArtifactStore, raw: bytes) -> StoredObject:
    return StoredObject(store.put_bytes(raw), len(raw), "dir", meta={"dirname": "model"})


def _bounded(call: Callable[[], object]) -> tuple[ShipyardError, int, float]:
    """Run ``call`` (which must fail); the error, the peak traced allocation and the seconds."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        call()
    except ShipyardError as exc:
        error = exc
    else:  # pragma: no cover - the assertion below reports it
        raise AssertionError("the load did not fail")
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak, time.perf_counter() - started


BOMBS: dict[str, tuple[Callable[[], bytes], type[ShipyardError], str]] = {
    "sparse": (lambda: hostile.sparse_tar("weights.bin", 256 << 20), IntegrityError, "sparse"),
    "huge-declared": (
        lambda: hostile.huge_member_tar("weights.bin", 8 << 30),
        SerializationError,
        "declares more than",
    ),
}


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_dir_artifact_bomb_is_refused_quickly_without_allocating(
    tmp_path: Path, tmpdir_root: Path, bomb: str
) -> None:
    build, error_type, message = BOMBS[bomb]
    raw = build()
    assert len(raw) <= 16 << 10
    store = ArtifactStore(LocalBackend(tmp_path / "blobs"))
    stored = _as_dir(store, raw)
    for load in (lambda: store.get_object(stored), lambda: store.get_to_path(stored, tmp_path / "out")):
        error, peak, seconds = _bounded(load)
        assert isinstance(error, error_type) and message in str(error)
        assert peak < 40 << 20 and seconds < 5  # the copy's 16 MiB buffer, not the 256 MiB+ declared
    assert not (tmp_path / "out").exists()
    assert list(tmpdir_root.iterdir()) == []


def test_too_many_entries_is_refused_at_the_limit(tmp_path: Path, tmpdir_root: Path) -> None:
    from shipyard.artifacts.unpack import UnpackLimits

    store = ArtifactStore(LocalBackend(tmp_path / "blobs"), UnpackLimits(max_members=50))
    stored = _as_dir(store, hostile.many_members_tar(51))
    with pytest.raises(SerializationError, match=r"more than 50 entries.*SHIPYARD_UNPACK_MAX_MEMBERS"):
        store.get_object(stored)
    assert isinstance(store.get_object(_as_dir(store, hostile.many_members_tar(50))), Path)


def test_limits_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.artifacts.registry import open_artifact_store
    from shipyard.artifacts.unpack import UnpackLimits
    from shipyard.core.settings import load_settings

    monkeypatch.setenv("SHIPYARD_UNPACK_MAX_BYTES", str(1 << 20))
    monkeypatch.setenv("SHIPYARD_UNPACK_MAX_MEMBERS", "7")
    store = open_artifact_store(load_settings())
    assert store.limits == UnpackLimits(max_bytes=1 << 20, max_members=7)
    store.close()


def _tar_with(member: tarfile.TarInfo) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(member)
    return buffer.getvalue()


def _kind(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


@pytest.mark.parametrize(
    "member",
    [
        _kind("dev", tarfile.CHRTYPE),
        _kind("fifo", tarfile.FIFOTYPE),
        _kind("hard", tarfile.LNKTYPE, "/etc/passwd"),
        _kind("../up.txt", tarfile.REGTYPE),
    ],
    ids=["device", "fifo", "hardlink", "dotdot"],
)
def test_unsafe_members_are_refused_and_nothing_is_left(
    tmp_path: Path, tmpdir_root: Path, member: tarfile.TarInfo
) -> None:
    store = ArtifactStore(LocalBackend(tmp_path / "blobs"))
    with pytest.raises(IntegrityError):
        store.get_object(_as_dir(store, _tar_with(member)))
    assert list(tmpdir_root.iterdir()) == []


def test_failed_loads_leave_no_temp_folders(tmp_path: Path, tmpdir_root: Path) -> None:
    """A file or folder artifact whose blob fails verification: the temp folder made for the
    copy is removed again."""
    store = ArtifactStore(LocalBackend(tmp_path / "blobs"))
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "a.txt").write_text("hello" * 1000)
    stored_dir = store.put_path(tmp_path / "tree")
    stored_file = store.put_path(tmp_path / "tree" / "a.txt")
    for stored in (stored_dir, stored_file):
        blob = store.blobs.local_path(blob_key(stored.digest))
        assert blob is not None
        blob.chmod(0o644)
        data = bytearray(blob.read_bytes())
        data[-600] ^= 0xFF  # inside the content: the hash no longer matches
        blob.write_bytes(bytes(data))
    before = sorted(tmpdir_root.iterdir())
    for stored in (stored_dir, stored_file):
        with pytest.raises(IntegrityError):
            store.get_object(stored)
    assert sorted(tmpdir_root.iterdir()) == before == []
