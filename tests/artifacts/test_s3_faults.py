"""S3 reads survive connections reset mid-body (issue 13): a fault-injecting TCP proxy in front of
moto's standalone server resets the first N downloads of a blob after part of its body.

One fault: the download resumes from the last byte received and returns the exact bytes. Faults
on every attempt: one line, a shipyard StorageError, never a raw botocore/urllib3 exception.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.artifacts.backends.s3 import S3Backend
from shipyard.artifacts.cas import blob_key
from shipyard.artifacts.store import ArtifactStore
from shipyard.core.errors import StorageError
from tests.artifacts.fault_proxy import FaultProxy, fault_proxy

SIZE = 3 << 20  # several reads of the 1 MiB buffer
CUT_AFTER = 700 << 10  # response bytes passed on before the reset: headers + part of the body


@pytest.fixture
def data() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def faulty(moto_endpoint: str, aws_env: None, data: bytes) -> Iterator[tuple[ArtifactStore, FaultProxy, str]]:
    """(store over the proxy, the proxy, the blob's digest), the blob already stored."""
    bucket = f"faults-{uuid.uuid4().hex[:12]}"
    direct = S3Backend(bucket, "p", endpoint_url=moto_endpoint)
    direct.client.create_bucket(Bucket=bucket)
    digest = ArtifactStore(direct).put_bytes(data)
    direct.close()
    marker = blob_key(digest).rsplit("/", 1)[1].encode()
    with fault_proxy(moto_endpoint, marker, CUT_AFTER) as proxy:
        backend = S3Backend(bucket, "p", endpoint_url=proxy.url, max_attempts=3, backoff_s=0.01)
        yield ArtifactStore(backend), proxy, digest
        backend.close()


def test_one_reset_mid_body_is_resumed_with_the_exact_bytes(
    faulty: tuple[ArtifactStore, FaultProxy, str], data: bytes, tmp_path: Path
) -> None:
    store, proxy, digest = faulty
    proxy.faults = 1
    assert hashlib.sha256(store.get_bytes(digest)).hexdigest() == digest
    assert proxy.cut == 1
    proxy.faults = 2  # two resets in one download: still within three attempts
    out = store.get_file(digest, tmp_path / "copy.bin")
    assert out.read_bytes() == data and proxy.cut == 3


def test_persistent_resets_give_one_line_shipyard_error(
    faulty: tuple[ArtifactStore, FaultProxy, str],
) -> None:
    store, proxy, digest = faulty
    proxy.faults = 100
    with pytest.raises(StorageError) as info:
        store.get_bytes(digest, "weights")
    message = str(info.value)
    assert "\n" not in message
    assert "connection broke off 3 times" in message and "retry" in message, message
    assert proxy.cut == 3  # tried exactly max_attempts times, then gave up
