"""Local-backend specifics beyond the shared contract: staging cleanup, header sanity checks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from shipyard.artifacts.backends.local import LocalBackend
from shipyard.artifacts.cas import blob_key
from shipyard.artifacts.store import ArtifactStore
from shipyard.core.errors import IntegrityError


def test_clean_staging_removes_only_stale_temp_files(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    staging = backend.staging_dir()
    stale, fresh = staging / ".tmp-old.blob", staging / ".tmp-new.blob"
    stale.write_bytes(b"left by a crash")
    fresh.write_bytes(b"being written")
    old = time.time() - 3 * 24 * 3600
    os.utime(stale, (old, old))
    assert backend.clean_staging() == 1
    assert not stale.exists() and fresh.exists()
    assert LocalBackend(tmp_path / "never-used").clean_staging() == 0


def test_small_objects_never_create_temp_files(tmp_path: Path) -> None:
    store = ArtifactStore(LocalBackend(tmp_path))
    store.put_object({"a": 1})
    store.put_object(b"x" * 1000)
    assert list(store.blobs.list_keys("blobs/")) != []
    assert list((tmp_path / ".staging").iterdir()) == []


def test_forged_npy_header_is_an_integrity_error_not_a_huge_allocation(tmp_path: Path) -> None:
    store = ArtifactStore(LocalBackend(tmp_path))
    stored = store.put_object(np.arange(1000, dtype=np.int64))
    path = store.blobs.local_path(blob_key(stored.digest))
    assert path is not None
    raw = path.read_bytes()
    forged = raw.replace(b"(1000,), }        ", b"(999999999999,), }", 1)  # same header length
    assert forged != raw and len(forged) == len(raw)
    path.write_bytes(forged)
    with pytest.raises(IntegrityError, match="counts"):
        store.get_object(stored, name="counts")
