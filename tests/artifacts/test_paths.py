"""Files and directory trees: exact round trips, deterministic digests, safe extraction."""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.artifacts.store import ArtifactStore, StoredObject
from shipyard.core.errors import IntegrityError, InvalidInputError, NotFoundError

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.text(alphabet="abcxyz_-.0é", min_size=1, max_size=6).filter(lambda n: n not in (".", ".."))
TREES = st.recursive(
    st.binary(max_size=300),
    lambda inner: st.dictionaries(NAMES, inner, min_size=0, max_size=4),
    max_leaves=10,
).filter(lambda tree: isinstance(tree, dict))


def build(root: Path, tree: dict[str, object]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, node in tree.items():
        if isinstance(node, dict):
            build(root / name, node)
        else:
            assert isinstance(node, bytes)
            (root / name).write_bytes(node)


def snapshot(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out


@SETTINGS
@given(st.binary(max_size=5000), NAMES)
def test_files_round_trip(
    store: ArtifactStore, tmp_path_factory: pytest.TempPathFactory, data: bytes, name: str
) -> None:
    src = tmp_path_factory.mktemp("src") / name
    src.write_bytes(data)
    stored = store.put_path(src)
    assert stored.serializer == "file" and stored.meta["filename"] == name and stored.size == len(data)
    loaded = store.get_object(stored, allow_unsafe=False)
    assert isinstance(loaded, Path) and loaded.name == name and loaded.read_bytes() == data
    dest = tmp_path_factory.mktemp("dest") / "copy.bin"
    assert store.get_to_path(stored, dest).read_bytes() == data


@SETTINGS
@given(TREES)
def test_dirs_round_trip_with_stable_digest(
    store: ArtifactStore, tmp_path_factory: pytest.TempPathFactory, tree: dict[str, object]
) -> None:
    first = tmp_path_factory.mktemp("a") / "model"
    second = tmp_path_factory.mktemp("b") / "other-name"
    build(first, tree)
    build(second, tree)
    os.utime(first, (1, 1))  # different mtimes: the digest must not care
    stored = store.put_path(first)
    assert stored.serializer == "dir" and not stored.unsafe
    assert store.put_path(second).digest == stored.digest
    loaded = store.get_object(stored, allow_unsafe=False)
    assert isinstance(loaded, Path) and snapshot(loaded) == snapshot(first)
    dest = tmp_path_factory.mktemp("dest") / "restored"
    assert snapshot(store.get_to_path(stored, dest)) == snapshot(first)


def test_path_objects_go_through_put_object(store: ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("hi")
    assert store.put_object(tmp_path / "f.txt").serializer == "file"
    assert store.put_object(tmp_path).serializer == "dir"


def test_missing_path(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        store.put_path(tmp_path / "nope")


def test_symlinks_inside_are_kept_escaping_ones_refused(store: ArtifactStore, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "data.txt").write_text("payload")
    (root / "link.txt").symlink_to("sub/data.txt")
    stored = store.put_path(root)
    loaded = store.get_object(stored)
    assert (loaded / "link.txt").is_symlink() and (loaded / "link.txt").read_text() == "payload"

    (root / "escape").symlink_to("../../etc/passwd")
    with pytest.raises(InvalidInputError, match="outside"):
        store.put_path(root)
    (root / "escape").unlink()
    (root / "abs").symlink_to("/etc/passwd")
    with pytest.raises(InvalidInputError, match="outside"):
        store.put_path(root)


def _evil_tar(store: ArtifactStore, member: tarfile.TarInfo, data: bytes = b"") -> StoredObject:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        member.size = len(data) if member.isreg() else 0
        tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    raw = buffer.getvalue()
    return StoredObject(store.put_bytes(raw), len(raw), "dir", meta={"dirname": "evil"})


@pytest.mark.parametrize("name", ["../escaped.txt", "/tmp/abs-escape.txt", "a/../../escaped.txt"])
def test_extraction_refuses_unsafe_member_names(store: ArtifactStore, tmp_path: Path, name: str) -> None:
    stored = _evil_tar(store, tarfile.TarInfo(name), b"owned")
    dest = tmp_path / "inner" / "out"
    with pytest.raises(IntegrityError, match="unsafe member"):
        store.get_to_path(stored, dest, name="evil-dir")
    assert not dest.exists() and not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "inner" / "escaped.txt").exists()


def test_extraction_refuses_escaping_symlink_and_devices(store: ArtifactStore, tmp_path: Path) -> None:
    link = tarfile.TarInfo("link")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../" + uuid.uuid4().hex
    with pytest.raises(IntegrityError, match="escapes"):
        store.get_to_path(_evil_tar(store, link), tmp_path / "out1")
    fifo = tarfile.TarInfo("fifo")
    fifo.type = tarfile.FIFOTYPE
    with pytest.raises(IntegrityError, match="not a file"):
        store.get_to_path(_evil_tar(store, fifo), tmp_path / "out2")
    assert not (tmp_path / "out1").exists() and not (tmp_path / "out2").exists()


def test_corrupted_dir_is_not_unpacked(store: ArtifactStore, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.txt").write_text("a" * 1000)
    stored = store.put_path(root)
    blob = store.blobs.local_path(f"blobs/sha256/{stored.digest[:2]}/{stored.digest[2:]}")
    assert blob is not None
    raw = bytearray(blob.read_bytes())
    raw[600] ^= 1
    blob.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="my-dir"):
        store.get_to_path(stored, tmp_path / "out", name="my-dir")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tree"]  # no staging folder left behind
