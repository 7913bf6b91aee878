"""``artifacts gc`` removes what killed writers left (issue 13): temp files of blob writes and
server uploads in a local store's ``.staging``, a remote store's scratch folder, and unfinished
S3 multipart uploads; never a live writer's (younger than the grace period) nor a real blob."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.artifacts.backends.local import STAGING, LocalBackend
from shipyard.artifacts.cas import blob_key
from shipyard.artifacts.store import ArtifactStore
from shipyard.cli.main import main
from shipyard.core.settings import load_settings
from shipyard.tracking.gc import collect_garbage
from shipyard.tracking.stores import Stores, open_stores

HOUR = 3600


def _leave(folder: Path, name: str, size: int, age_s: float) -> Path:
    """A temp file as a killed writer leaves it: ``size`` bytes, last written ``age_s`` ago."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"\0" * size)
    past = time.time() - age_s
    os.utime(path, (past, past))
    return path


def test_gc_removes_stale_temp_files_and_keeps_live_ones_and_blobs(
    sdk: Stores, capsys: pytest.CaptureFixture[str]
) -> None:
    blobs = sdk.artifacts.blobs
    assert isinstance(blobs, LocalBackend)
    digest = sdk.artifacts.put_bytes(b"a real blob, referenced by nothing yet")
    staging = blobs.root / STAGING
    killed = [
        _leave(staging, ".tmp-killed.blob", 3000, 2 * HOUR),  # a killed SDK write
        _leave(staging, ".upload-killed.blob", 5000, 3 * HOUR),  # a killed server upload
    ]
    live = [
        _leave(staging, ".tmp-live.blob", 700, 60),
        _leave(staging, ".upload-live.blob", 900, 10 * 60),
    ]
    dry = collect_garbage(sdk, dry_run=True)
    assert (dry.temp_files, dry.temp_bytes) == (2, 8000)
    assert all(p.exists() for p in killed)

    capsys.readouterr()
    assert main(["artifacts", "gc", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["temp_files"] == 2 and report["temp_bytes"] == 8000
    assert not any(p.exists() for p in killed)
    assert all(p.exists() for p in live)
    assert blobs.exists(blob_key(digest))  # young blobs are not temp files

    older = _leave(staging, ".tmp-older.blob", 10, 20 * 60)
    assert main(["artifacts", "gc", "--temp-min-age", "15m"]) == 0
    out = capsys.readouterr().out
    assert "removed 1 temp file(s) of killed writers" in out, out
    assert not older.exists() and all(p.exists() for p in live)  # only what idled past 15 minutes


def test_a_killed_writer_to_a_remote_store_leaves_its_temp_file_in_the_scratch_folder(
    tmp_path: Path,
) -> None:
    """A remote backend has no staging dir: writes buffer in the store's scratch folder, not the
    system temp folder, so gc can find them."""

    class Remote(LocalBackend):
        def staging_dir(self) -> None:  # type: ignore[override]
            return None

    scratch = tmp_path / "scratch"
    store = ArtifactStore(Remote(tmp_path / "remote"), scratch=scratch)
    writer = store.cas.writer()
    writer.write(b"x" * (4 << 20))  # large enough to go to a temp file
    temp_files = list(scratch.iterdir())
    assert len(temp_files) == 1 and temp_files[0].name.startswith(".tmp-")
    past = time.time() - 2 * HOUR
    os.utime(temp_files[0], (past, past))  # the writer was killed two hours ago
    report = store.cas.clean_stale(time.time() - HOUR)
    assert (report.files, report.file_bytes) == (1, 4 << 20)
    assert not temp_files[0].exists()
    writer.abort()


@pytest.fixture
def s3_stores(tmp_path: Path, moto_endpoint: str, aws_env: None) -> Iterator[Stores]:
    bucket = f"gc-{uuid.uuid4().hex[:12]}"
    settings = load_settings(
        home=tmp_path / "home",
        uri=f"sqlite:///{tmp_path / 'home' / 'shipyard.db'}",
        artifacts=f"s3://{bucket}/store",
        s3_endpoint_url=moto_endpoint,
    )
    stores = open_stores(settings)
    stores.artifacts.blobs.client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    yield stores
    stores.close()


def test_gc_aborts_abandoned_s3_multipart_uploads_under_the_prefix(s3_stores: Stores) -> None:
    backend = s3_stores.artifacts.blobs
    client = backend.client  # type: ignore[attr-defined]
    bucket = backend.bucket  # type: ignore[attr-defined]
    digest = s3_stores.artifacts.put_bytes(b"a real blob")
    part = b"p" * (5 << 20)

    def start(key: str, parts: int) -> str:
        upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        for number in range(1, parts + 1):
            client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=part)
        return str(upload)

    start("store/blobs/sha256/ab/" + "c" * 62, 2)  # a killed client's upload of a big blob
    start("elsewhere/not-ours", 1)  # outside the store's prefix: never touched
    scratch = s3_stores.artifacts.cas.scratch
    assert scratch is not None
    _leave(scratch, ".tmp-killed.blob", 4096, 2 * HOUR)  # the killed client's buffer

    first = collect_garbage(s3_stores)  # the default grace period: an hour
    assert (first.uploads_aborted, first.temp_files, first.temp_bytes) == (0, 1, 4096)  # could be live
    time.sleep(0.01)
    dry = collect_garbage(s3_stores, dry_run=True, temp_min_age_s=0)
    assert (dry.uploads_aborted, dry.upload_bytes) == (1, 2 * len(part))
    report = collect_garbage(s3_stores, temp_min_age_s=0)
    assert (report.uploads_aborted, report.upload_bytes) == (1, 2 * len(part))
    left = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in left] == ["elsewhere/not-ours"]
    assert backend.exists(blob_key(digest))
