"""Large Parquet files stored as row-group-aligned chunks (dedup per row group, verified loads)."""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.artifacts.cas import blob_key
from shipyard.core.errors import IntegrityError
from shipyard.core.settings import load_settings
from shipyard.data import chunks
from shipyard.data.load import Materializer
from shipyard.data.service import DatasetService
from shipyard.metadata.datasets import DatasetFile, chunks_digest
from shipyard.metadata.sql.dataset_manifest import blobs_of, decode_manifest, encode_manifest
from shipyard.tracking import fluent
from shipyard.tracking.stores import Stores, open_stores
from tests.data.conftest import CountingBackend
from tests.server.live import LiveServer, live_server

GROUP = 1000  # rows per row group


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunk files of any size, one chunk per row group (the real sizes make tests slow)."""
    monkeypatch.setattr(chunks, "CHUNKED_MIN", 1)
    monkeypatch.setattr(chunks, "CHUNK_MIN", 1)


def _table(rows: int, changed: range = range(0)) -> pa.Table:
    x = np.arange(rows, dtype=np.float64) / 7
    x[changed.start : changed.stop] += 0.5
    return pa.table({"id": np.arange(rows, dtype=np.int64), "x": x})


def _write(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=GROUP, compression="none", use_dictionary=False)
    return path


def _only(service: DatasetService, version: object) -> DatasetFile:
    (file,) = service.files(version)  # type: ignore[arg-type]
    return file


@pytest.mark.usefixtures("small_chunks")
def test_a_chunked_file_round_trips_byte_identical(service: DatasetService, tmp_path: Path) -> None:
    src = _write(tmp_path / "src" / "t.parquet", _table(4 * GROUP))
    version = service.snapshot("t", src.parent).version
    file = _only(service, version)
    assert file.chunks is not None and len(file.chunks) == 5  # 4 row groups + the footer
    assert sum(n for _, n in file.chunks) == file.size == src.stat().st_size
    assert file.digest == chunks_digest(file.chunks) and file.rows == 4 * GROUP
    out = service.load(version, output="path", dest=tmp_path / "out")
    assert (out / "t.parquet").read_bytes() == src.read_bytes()
    assert service.load(version, output="arrow").equals(_table(4 * GROUP))


@pytest.mark.usefixtures("small_chunks")
def test_a_changed_or_appended_row_group_writes_only_its_chunk_and_the_footer(
    service: DatasetService, writes: CountingBackend, tmp_path: Path
) -> None:
    src = tmp_path / "src" / "t.parquet"
    first = _only(service, service.snapshot("t", _write(src, _table(4 * GROUP)).parent).version)
    assert first.chunks is not None
    before = writes.writes

    changed = service.snapshot("t", _write(src, _table(4 * GROUP, range(1000, 1100))).parent)
    second = _only(service, changed.version)
    assert second.chunks is not None
    # row group 1 and the footer (its statistics changed: the group's minimum moved)
    assert (changed.written, writes.writes - before) == (2, 2)
    differ = [i for i, (a, b) in enumerate(zip(first.chunks, second.chunks, strict=True)) if a != b]
    assert differ == [1, 4]

    before = writes.writes
    appended = service.snapshot("t", _write(src, _table(5 * GROUP, range(1000, 1100))).parent)
    third = _only(service, appended.version)
    assert third.chunks is not None and third.chunks[:4] == second.chunks[:4]
    assert (appended.written, writes.writes - before) == (2, 2)  # the new row group and the footer
    assert service.snapshot("t", src.parent).written == 0  # unchanged: nothing read or written
    out = service.load(appended.version, output="path", dest=tmp_path / "out")
    assert (out / "t.parquet").read_bytes() == src.read_bytes()


@pytest.mark.usefixtures("small_chunks")
def test_a_tampered_chunk_fails_the_load_and_leaves_nothing_cached(
    service: DatasetService, stores: Stores, tmp_path: Path
) -> None:
    src = _write(tmp_path / "src" / "t.parquet", _table(4 * GROUP))
    file = _only(service, service.snapshot("t", src.parent).version)
    assert file.chunks is not None
    digest, size = file.chunks[2]
    blob = Path(stores.artifacts.blobs.location) / blob_key(digest)
    data = bytearray(blob.read_bytes())
    data[size // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match="corrupted"):
        Materializer(stores.artifacts.cas, cache).local(file, "t/t.parquet")
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_a_chunk_list_that_does_not_match_the_digest_is_refused(stores: Stores, tmp_path: Path) -> None:
    listed = (("a" * 64, 10), ("b" * 64, 5))
    lying = DatasetFile("t.parquet", chunks_digest(listed), 15, chunks=(("a" * 64, 10), ("c" * 64, 5)))
    with pytest.raises(IntegrityError, match="chunk list does not match"):
        Materializer(stores.artifacts.cas, tmp_path / "cache").local(lying, "t/t.parquet")
    data, digest = encode_manifest([lying])
    with pytest.raises(IntegrityError, match="does not match its chunks"):
        decode_manifest(data, digest, 1, "datasets:/t/1")


def test_manifests_with_and_without_chunks() -> None:
    plain = DatasetFile("a.parquet", "d" * 64, 3)
    data, digest = encode_manifest([plain])
    assert json.loads(zlib.decompress(data))["v"] == 1  # readers of version-1 manifests still read it
    assert decode_manifest(data, digest, 1, "x") == [plain]
    same = tuple(("e" * 64, 1) for _ in range(20_000))  # compresses far better than digests do
    chunked = DatasetFile("b.parquet", chunks_digest(same), 20_000, 7, chunks=same)
    data, digest = encode_manifest([plain, chunked])
    assert json.loads(zlib.decompress(data))["v"] == 2
    assert decode_manifest(data, digest, 2, "x") == [plain, chunked]
    assert blobs_of([plain, chunked]) == ["d" * 64, "e" * 64]


def test_a_version_with_whole_file_blobs_still_loads_next_to_a_chunked_one(
    service: DatasetService, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    src = _write(tmp_path / "src" / "t.parquet", _table(4 * GROUP))
    monkeypatch.setattr(chunks, "CHUNKED_MIN", 1 << 40)  # as versions were stored before chunks
    old = service.snapshot("t", src.parent).version
    old_file = _only(service, old)
    assert old_file.chunks is None and service.stores.artifacts.exists(old_file.digest)
    monkeypatch.setattr(chunks, "CHUNKED_MIN", 1)
    monkeypatch.setattr(chunks, "CHUNK_MIN", 1)
    _write(src, _table(4 * GROUP, range(10, 20)))
    new = service.snapshot("t", src.parent).version
    assert _only(service, new).chunks is not None
    assert service.load(old, output="arrow").equals(_table(4 * GROUP))
    assert service.load(new, output="arrow").equals(_table(4 * GROUP, range(10, 20)))


def test_ranges_follow_row_groups_join_small_ones_and_cut_large_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    src = _write(tmp_path / "t.parquet", _table(10 * GROUP))
    size = src.stat().st_size
    meta = pq.read_metadata(src)
    ranges = chunks.parquet_ranges(str(src), size)
    assert ranges[0][0] == 0 and sum(n for _, n in ranges) == size
    assert all(a + n == b for (a, n), (b, _) in pairwise(ranges))
    group_bytes = meta.row_group(0).total_byte_size
    monkeypatch.setattr(chunks, "CHUNK_MIN", 3 * group_bytes)  # three groups a chunk
    monkeypatch.setattr(chunks, "CHUNK_MAX", 1 << 30)
    joined = chunks.parquet_ranges(str(src), size)
    assert len(joined) == 4 + 1  # 3+3+3+1 groups, then the footer
    monkeypatch.setattr(chunks, "CHUNK_MIN", 1)
    monkeypatch.setattr(chunks, "CHUNK_MAX", group_bytes // 4)
    cut = chunks.parquet_ranges(str(src), size)
    assert len(cut) > 4 * 10 and sum(n for _, n in cut) == size
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet" * 1000)
    monkeypatch.setattr(chunks, "CHUNKED_MIN", 1)
    assert chunks.plan(0, "junk.parquet", str(junk), junk.stat().st_size).ranges == ((0, 11000),)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as s:
        yield s


@pytest.mark.usefixtures("small_chunks")
def test_chunked_snapshots_through_the_server(server: LiveServer, tmp_path: Path) -> None:
    src = _write(tmp_path / "src" / "t.parquet", _table(4 * GROUP))
    stores = open_stores(load_settings(uri=server.url, token=server.token, home=tmp_path / "client"))
    try:
        service = DatasetService(stores)
        version = service.snapshot("t", src.parent).version
        file = _only(service, version)
        assert file.chunks is not None and len(file.chunks) == 5
        assert all(server.stores.artifacts.exists(d) for d, _ in file.chunks)
        _write(src, _table(4 * GROUP, range(0, 5)))
        assert service.snapshot("t", src.parent).written == 2
        out = service.load(service.resolve("datasets:/t/2"), output="path", dest=tmp_path / "out")
        assert (out / "t.parquet").read_bytes() == src.read_bytes()
    finally:
        stores.close()
        fluent.reset()


@pytest.fixture
def bucket(moto_endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    import boto3

    monkeypatch.setenv("SHIPYARD_S3_ENDPOINT_URL", moto_endpoint)
    name = f"chunks-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=name)
    return name


@pytest.mark.s3
@pytest.mark.usefixtures("small_chunks")
def test_chunked_snapshots_on_s3(bucket: str, tmp_path: Path) -> None:
    src = _write(tmp_path / "src" / "t.parquet", _table(4 * GROUP))
    stores = open_stores(load_settings(home=tmp_path / "home", artifacts=f"s3://{bucket}/store"))
    try:
        service = DatasetService(stores)
        version = service.snapshot("t", src.parent).version
        assert _only(service, version).chunks is not None
        assert service.load(version, output="arrow").equals(_table(4 * GROUP))
        _write(src, _table(4 * GROUP, range(3990, 4000)))
        assert service.snapshot("t", src.parent).written == 2
    finally:
        stores.close()


@pytest.mark.usefixtures("small_chunks")
def test_a_failed_large_file_store_adopts_nothing_and_leaves_no_temp_file(
    service: DatasetService, stores: Stores, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from shipyard.artifacts.staged import StagedBlobs

    src = _write(tmp_path / "src" / "t.parquet", _table(4 * GROUP))
    real = StagedBlobs.put_range
    calls = []

    def failing(self: StagedBlobs, *args: object, **kwargs: object) -> tuple[str, bool]:
        calls.append(1)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(StagedBlobs, "put_range", failing)
    with pytest.raises(Exception, match="No space left"):
        service.snapshot("t", src.parent)
    root = Path(stores.artifacts.blobs.location)
    assert not [p for p in (root / "blobs").rglob("*") if p.is_file()]  # none adopted before commit
    assert not [p for p in (root / ".staging").rglob("*") if p.is_file()]
    assert service.store.list_datasets() == []
