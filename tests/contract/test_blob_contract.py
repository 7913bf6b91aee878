"""One contract for every BlobBackend (local folder, S3 via moto's server) and the CAS layer on top.

A new backend is done when it is added to the ``blob_backend`` fixture and this file passes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.artifacts.backends.base import BlobBackend
from shipyard.artifacts.backends.local import LocalBackend
from shipyard.artifacts.cas import blob_key
from shipyard.artifacts.store import ArtifactStore, StoredObject
from shipyard.core.errors import IntegrityError, InvalidInputError, NotFoundError, StorageError

BACKENDS = ["local", "s3"]
REPO = Path(__file__).resolve().parents[2]


# fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def blob_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobBackend]:
    if request.param == "local":
        yield LocalBackend(tmp_path / "blobs-root")
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    request.getfixturevalue("aws_env")
    from shipyard.artifacts.backends.s3 import S3Backend

    bucket = f"test-{uuid.uuid4().hex[:12]}"
    backend = S3Backend(bucket, "some/prefix", endpoint_url=endpoint)
    backend.client.create_bucket(Bucket=bucket)
    yield backend
    backend.close()


@pytest.fixture
def store(blob_backend: BlobBackend) -> ArtifactStore:
    return ArtifactStore(blob_backend)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_all(backend: BlobBackend, key: str) -> bytes:
    with backend.open_read(key) as stream:
        return stream.read()


def blob_keys(backend: BlobBackend) -> list[str]:
    return list(backend.list_keys("blobs/"))


def corrupt(backend: BlobBackend, digest: str, data: bytes) -> None:
    """Replace a stored blob's bytes behind the CAS's back."""
    local = backend.local_path(blob_key(digest))
    if local is not None:
        local.write_bytes(data)
    else:
        backend.write_bytes(blob_key(digest), data)


# the byte backend -------------------------------------------------------------------------------------
def test_write_bytes_then_read(blob_backend: BlobBackend) -> None:
    blob_backend.write_bytes("a/b/one", b"hello")
    blob_backend.write_bytes("a/b/two", memoryview(b"world!"))
    assert read_all(blob_backend, "a/b/one") == b"hello"
    assert read_all(blob_backend, "a/b/two") == b"world!"
    assert blob_backend.exists("a/b/one")
    assert blob_backend.size("a/b/two") == 6


def test_overwrite_replaces_whole_object(blob_backend: BlobBackend) -> None:
    blob_backend.write_bytes("k", b"x" * 100)
    blob_backend.write_bytes("k", b"short")
    assert read_all(blob_backend, "k") == b"short"


def test_write_file_streams_big_file(
    blob_backend: BlobBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shipyard.artifacts.backends.s3 as s3

    monkeypatch.setattr(s3, "MULTIPART_THRESHOLD", 5 << 20)  # S3's smallest part: forces multipart
    data = os.urandom((11 << 20) + 7)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    blob_backend.write_file("files/big", src)
    assert blob_backend.size("files/big") == len(data)
    assert sha(read_all(blob_backend, "files/big")) == sha(data)
    assert src.exists(), "write_file must not consume its source"


def test_write_file_missing_source(blob_backend: BlobBackend, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        blob_backend.write_file("files/none", tmp_path / "nope")
    assert not blob_backend.exists("files/none")


def test_missing_key(blob_backend: BlobBackend) -> None:
    assert not blob_backend.exists("no/such/key")
    with pytest.raises(NotFoundError, match="no/such/key"):
        blob_backend.open_read("no/such/key")
    with pytest.raises(NotFoundError, match="no/such/key"):
        blob_backend.size("no/such/key")
    blob_backend.delete("no/such/key")  # not an error


def test_delete(blob_backend: BlobBackend) -> None:
    blob_backend.write_bytes("d/x", b"1")
    blob_backend.delete("d/x")
    assert not blob_backend.exists("d/x")
    with pytest.raises(NotFoundError):
        blob_backend.open_read("d/x")


def test_list_keys_by_prefix(blob_backend: BlobBackend) -> None:
    for key in ("p/a/1", "p/a/2", "p/b/1", "q/1", "pa"):
        blob_backend.write_bytes(key, key.encode())
    assert sorted(blob_backend.list_keys("p/a/")) == ["p/a/1", "p/a/2"]
    assert sorted(blob_backend.list_keys("p/")) == ["p/a/1", "p/a/2", "p/b/1"]
    assert sorted(blob_backend.list_keys("p")) == ["p/a/1", "p/a/2", "p/b/1", "pa"]
    assert sorted(blob_backend.list_keys()) == ["p/a/1", "p/a/2", "p/b/1", "pa", "q/1"]
    assert list(blob_backend.list_keys("zzz/")) == []


def test_staging_and_adopt(blob_backend: BlobBackend, tmp_path: Path) -> None:
    staging = blob_backend.staging_dir()
    folder = staging if staging is not None else tmp_path
    temp = folder / "tmp-adopt"
    temp.write_bytes(b"adopted bytes")
    blob_backend.adopt_file("x/adopted", temp)
    assert read_all(blob_backend, "x/adopted") == b"adopted bytes"
    assert not temp.exists()
    assert list(blob_backend.list_keys("x/")) == ["x/adopted"]
    assert all(".staging" not in key for key in blob_backend.list_keys())


def test_adopt_files_takes_a_batch(blob_backend: BlobBackend, tmp_path: Path) -> None:
    staging = blob_backend.staging_dir()
    folder = staging if staging is not None else tmp_path
    moves = []
    for i in range(3):
        temp = folder / f"tmp-batch-{i}"
        temp.write_bytes(f"batch {i}".encode())
        moves.append((f"y/{i % 2}/b{i}", temp))
    blob_backend.adopt_files(moves)
    assert [read_all(blob_backend, key) for key, _ in moves] == [b"batch 0", b"batch 1", b"batch 2"]
    assert not any(temp.exists() for _, temp in moves)
    assert sorted(blob_backend.list_keys("y/")) == ["y/0/b0", "y/0/b2", "y/1/b1"]


def test_local_path(blob_backend: BlobBackend) -> None:
    blob_backend.write_bytes("lp/k", b"zero-copy")
    path = blob_backend.local_path("lp/k")
    if isinstance(blob_backend, LocalBackend):
        assert path is not None and path.read_bytes() == b"zero-copy"
    else:
        assert path is None


def test_location_is_readable(blob_backend: BlobBackend) -> None:
    assert blob_backend.location.startswith(("/", "s3://"))


# the content-addressed layer --------------------------------------------------------------------------
def test_put_bytes_is_content_addressed_and_deduplicated(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"same bytes")
    assert digest == sha(b"same bytes")
    assert store.put_bytes(memoryview(b"same bytes")) == digest
    assert blob_keys(store.blobs) == [f"blobs/sha256/{digest[:2]}/{digest[2:]}"]
    assert store.exists(digest)
    assert store.get_bytes(digest) == b"same bytes"


def test_existing_blob_is_not_written_again(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = store.put_bytes(b"written once")
    src = tmp_path / "f"
    src.write_bytes(b"written once")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the blob exists; nothing should be written")

    monkeypatch.setattr(store.blobs, "write_bytes", refuse)
    monkeypatch.setattr(store.blobs, "write_file", refuse)
    monkeypatch.setattr(store.blobs, "adopt_file", refuse)
    assert store.put_bytes(b"written once") == digest
    assert store.put_file(src) == (digest, len(b"written once"))


def test_put_file_and_get_file(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    digest, size = store.put_file(src)
    assert (digest, size) == (sha(data), len(data))
    dest = store.get_file(digest, tmp_path / "out" / "copy.bin")
    assert dest.read_bytes() == data
    assert store.put_bytes(data) == digest
    assert len(blob_keys(store.blobs)) == 1


def test_big_put_bytes(store: ArtifactStore) -> None:
    data = os.urandom(20 << 20)  # above the chunk size: goes through the overlapped writer
    digest = store.put_bytes(data)
    assert digest == sha(data)
    assert store.get_bytes(digest) == data


def test_missing_blob_is_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    digest = sha(b"never stored")
    assert not store.exists(digest)
    with pytest.raises(NotFoundError, match="my-model"):
        store.get_bytes(digest, name="my-model")
    with pytest.raises(NotFoundError, match=digest):
        store.get_file(digest, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "bad",
    ["../../etc/passwd", "A" * 64, "a" * 63, "a" * 65, "a" * 64 + "\n", "", "g" * 64, "ab/" + "c" * 61],
)
def test_malformed_digest_is_invalid_input(store: ArtifactStore, bad: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="sha256"):
        store.get_bytes(bad)
    with pytest.raises(InvalidInputError):
        store.exists(bad)
    with pytest.raises(InvalidInputError):
        store.get_file(bad, tmp_path / "dest")
    stored = StoredObject(digest=bad, size=1, serializer="bytes")
    with pytest.raises(InvalidInputError):
        store.get_object(stored)
    with pytest.raises(InvalidInputError):
        store.get_to_path(stored, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_writer_failing_mid_write_leaves_nothing(store: ArtifactStore) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.cas.writer() as out:
        out.write(b"partial " * 1000)
        out.write(os.urandom(2 << 20))
        raise RuntimeError("boom")
    assert blob_keys(store.blobs) == []
    staging = store.blobs.staging_dir()
    assert staging is None or list(staging.iterdir()) == []


def test_failed_rename_leaves_nothing(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    if not isinstance(store.blobs, LocalBackend):
        monkeypatch.setattr(store.blobs, "write_file", lambda key, path: crash())
        monkeypatch.setattr(store.blobs, "write_bytes", lambda key, data: crash())
    with pytest.raises((StorageError, OSError)):
        store.put_bytes(b"never visible")
    with pytest.raises((StorageError, OSError)):
        store.put_bytes(os.urandom(20 << 20))
    monkeypatch.undo()
    assert blob_keys(store.blobs) == []


_CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from shipyard.artifacts.store import ArtifactStore, StoredObject

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    kind, where = sys.argv[1], sys.argv[2]
    if kind == "local":
        from shipyard.artifacts.backends.local import LocalBackend
        backend = LocalBackend(Path(where))
        os.fsync = die  # dies with the data written to the temp file, before the rename
    else:
        import shipyard.artifacts.backends.s3 as s3
        bucket, prefix, endpoint = where.split("|")
        backend = s3.S3Backend(bucket, prefix, endpoint_url=endpoint)
        s3.MULTIPART_THRESHOLD = 5 << 20
        # dies once the first part of the multipart upload is sent, before it is completed
        backend.client.meta.events.register("after-call.s3.UploadPart", die)
    ArtifactStore(backend).put_bytes(os.urandom(24 << 20))
    print("not killed")
    """
)


def test_process_killed_mid_write_leaves_nothing(blob_backend: BlobBackend) -> None:
    if isinstance(blob_backend, LocalBackend):
        where = str(blob_backend.root)
    else:
        from shipyard.artifacts.backends.s3 import S3Backend

        assert isinstance(blob_backend, S3Backend)
        where = f"{blob_backend.bucket}|{blob_backend.prefix}|{blob_backend.endpoint_url}"
    kind = "local" if isinstance(blob_backend, LocalBackend) else "s3"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_SCRIPT, kind, where], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr.decode()
    assert blob_keys(blob_backend) == []


def test_corrupted_blob_raises_integrity_error_naming_artifact(store: ArtifactStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"precious model weights")
    corrupt(store.blobs, digest, b"precious model weightz")
    with pytest.raises(IntegrityError, match="fraud-model") as info:
        store.get_bytes(digest, name="fraud-model")
    assert "weightz" not in str(info.value)
    with pytest.raises(IntegrityError, match=digest):
        store.get_bytes(digest)
    dest = tmp_path / "restore" / "weights.bin"
    with pytest.raises(IntegrityError, match="fraud-model"):
        store.get_file(digest, dest, name="fraud-model")
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no temp file left behind either


def test_truncated_blob_raises_integrity_error(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(5 << 20)
    digest = store.put_bytes(data)
    corrupt(store.blobs, digest, data[: len(data) // 2])
    with pytest.raises(IntegrityError, match="train/features"):
        store.get_bytes(digest, name="train/features")
    with pytest.raises(IntegrityError):
        store.get_file(digest, tmp_path / "half.bin")
    assert not (tmp_path / "half.bin").exists()


def test_corrupted_array_is_never_returned(store: ArtifactStore) -> None:
    np = pytest.importorskip("numpy")
    array = np.arange(1_000_000, dtype=np.float64)
    stored = store.put_object(array)
    raw = bytearray(store.get_bytes(stored.digest))
    raw[-5] ^= 0xFF
    corrupt(store.blobs, stored.digest, bytes(raw))
    with pytest.raises(IntegrityError, match="weights"):
        store.get_object(stored, name="weights")
    corrupt(store.blobs, stored.digest, bytes(raw[:1000]))  # truncated inside the data
    with pytest.raises(IntegrityError, match="weights"):
        store.get_object(stored, name="weights")


def test_objects_round_trip(store: ArtifactStore) -> None:
    np = pytest.importorskip("numpy")
    array = np.arange(12, dtype=np.int32).reshape(3, 4)
    stored = store.put_object(array)
    assert stored.serializer == "numpy" and not stored.unsafe
    assert np.array_equal(store.get_object(stored), array)
    value = {"lr": 0.1, "layers": [64, 32]}
    assert store.get_object(store.put_object(value)) == value


# listing with times, stat and touch (what blob garbage collection relies on) ------------------------
def test_list_blobs_and_stat_give_size_and_modified_time(store: ArtifactStore) -> None:
    import time

    before = time.time() - 5  # S3 keeps whole seconds; allow for clock granularity
    digest = store.put_bytes(b"twelve bytes")
    key = blob_key(digest)
    (info,) = [i for i in store.blobs.list_blobs("blobs/") if i.key == key]
    assert info.size == 12 and info.modified is not None and before <= info.modified <= time.time() + 5
    assert store.blobs.stat(key) == info
    with pytest.raises(NotFoundError):
        store.blobs.stat(blob_key("0" * 64))


def test_touch_renews_the_modified_time_and_a_repeated_write_touches(store: ArtifactStore) -> None:
    import time

    digest = store.put_bytes(b"touch me")
    key = blob_key(digest)
    first = store.blobs.stat(key).modified
    assert first is not None
    time.sleep(1.1)  # S3's LastModified has one-second resolution
    store.blobs.touch(key)
    touched = store.blobs.stat(key).modified
    assert touched is not None and touched > first
    time.sleep(1.1)
    assert store.put_bytes(b"touch me") == digest  # dedup: not written, but marked as in use
    again = store.blobs.stat(key).modified
    assert again is not None and again > touched
    assert store.get_bytes(digest) == b"touch me"
    with pytest.raises(NotFoundError):
        store.blobs.touch(blob_key("1" * 64))


def test_a_blob_deleted_between_the_check_and_the_touch_is_written_again(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = store.put_bytes(b"collected meanwhile")
    key = blob_key(digest)
    real_exists = store.blobs.exists

    def exists_then_vanish(k: str) -> bool:
        found = real_exists(k)
        if found and k == key:
            store.blobs.delete(k)  # garbage collection got there first
        return found

    monkeypatch.setattr(store.blobs, "exists", exists_then_vanish)
    assert store.put_bytes(b"collected meanwhile") == digest
    monkeypatch.undo()
    assert store.get_bytes(digest) == b"collected meanwhile"


def test_local_backend_never_follows_links(tmp_path: Path) -> None:
    """A blob file or folder replaced by a link is refused (IntegrityError), never read, written
    or deleted through; writing a linked blob file again replaces the link."""
    backend = LocalBackend(tmp_path / "root")
    backend.write_bytes("a/b/c", b"real")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "c").write_bytes(b"secret")
    blob = tmp_path / "root" / "a" / "b" / "c"
    blob.unlink()
    blob.symlink_to(outside / "c")
    for read in (backend.open_read, backend.size, backend.stat, backend.touch):
        with pytest.raises(IntegrityError, match="link"):
            read("a/b/c")
    assert not backend.exists("a/b/c")
    backend.write_bytes("a/b/c", b"real")  # repaired: the link itself is replaced
    with backend.open_read("a/b/c") as repaired:
        assert not blob.is_symlink() and repaired.read() == b"real"
    assert (outside / "c").read_bytes() == b"secret"
    folder = tmp_path / "root" / "a" / "b"
    blob.unlink()
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)
    for call in (backend.open_read, backend.exists, backend.size, backend.delete, backend.local_path):
        with pytest.raises(IntegrityError, match="link"):
            call("a/b/c")
    with pytest.raises(IntegrityError, match="link"):
        backend.write_bytes("a/b/c", b"through the link")
    assert (outside / "c").read_bytes() == b"secret"
    os.mkfifo(tmp_path / "root" / "a" / "fifo")  # a FIFO must not block the reader
    with pytest.raises(IntegrityError, match="not a regular file"):
        backend.open_read("a/fifo")
