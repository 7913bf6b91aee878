"""The writer and reader pipelines keep bytes in order whatever the mix of small and large buffers."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.artifacts._hashing import INLINE_LIMIT
from shipyard.artifacts.store import ArtifactStore
from shipyard.core.errors import IntegrityError

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# sizes around the thresholds: tiny, just under/over the inline limit, a few MiB
SIZES = st.sampled_from([0, 1, 17, 4096, INLINE_LIMIT - 1, INLINE_LIMIT, INLINE_LIMIT + 3, 3 * INLINE_LIMIT])
WRITES = st.lists(st.tuples(SIZES, st.booleans(), st.integers(0, 255)), min_size=1, max_size=6)


@SETTINGS
@given(WRITES)
def test_writer_stores_the_concatenation(store: ArtifactStore, writes: list[tuple[int, bool, int]]) -> None:
    expected = hashlib.sha256()
    parts: list[bytes] = []
    with store.cas.writer() as out:
        for size, stable, fill in writes:
            chunk = bytes([fill]) * size + fill.to_bytes(1, "big") * (size > 0)
            reused = bytearray(chunk)
            expected.update(chunk)
            parts.append(chunk)
            if stable:
                out.write_stable(chunk)
            else:
                out.write(reused)
                reused[:] = b"\xff" * len(reused)  # the caller may reuse its buffer at once
        digest, size = out.commit()
    data = b"".join(parts)
    assert (digest, size) == (expected.hexdigest(), len(data))
    assert store.get_bytes(digest) == data


@SETTINGS
@given(st.integers(0, 3 * INLINE_LIMIT), st.lists(st.integers(1, 2 * INLINE_LIMIT), max_size=4))
def test_reader_mixes_read_and_readinto(store: ArtifactStore, size: int, pieces: list[int]) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    digest = store.put_bytes(data)
    got = bytearray()
    with store.cas.open_verified(digest) as reader:
        for i, piece in enumerate(pieces):
            if i % 2:
                got += reader.read(piece)
            else:
                buffer = bytearray(piece)
                n = reader.readinto_stable(memoryview(buffer))
                got += buffer[:n]
        reader.verify()
    assert data.startswith(bytes(got))


def test_reader_detects_extra_trailing_bytes(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"exact")
    path = store.blobs.local_path(f"blobs/sha256/{digest[:2]}/{digest[2:]}")
    assert path is not None
    path.write_bytes(b"exact-plus-more")
    with pytest.raises(IntegrityError):
        store.get_bytes(digest)
