"""A full disk under the artifact root: one clear error naming the disk, nothing partial left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.artifacts.backends.local import LocalBackend
from shipyard.artifacts.cas import ContentStore
from shipyard.core.errors import InsufficientStorageError
from tests.tmpfs import leftovers, small_disk


def test_sdk_write_to_a_full_disk_raises_one_clear_error(tmp_path: Path) -> None:
    with small_disk(tmp_path) as disk:
        cas = ContentStore(LocalBackend(disk / "artifacts"))
        kept = cas.put_bytes(b"stored before the disk filled up")
        with pytest.raises(InsufficientStorageError) as raised:
            cas.put_bytes(os.urandom(3 * 1024 * 1024))
        message = str(raised.value)
        assert "\n" not in message
        assert "disk is full" in message and str(disk) in message
        # the temp file is gone, no blob under a final name but the one stored before
        assert leftovers(disk / "artifacts") == [f"blobs/sha256/{kept[:2]}/{kept[2:]}"]
        assert cas.get_bytes(kept) == b"stored before the disk filled up"


def test_streamed_file_to_a_full_disk(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    with small_disk(tmp_path) as disk:
        cas = ContentStore(LocalBackend(disk / "artifacts"))
        with pytest.raises(InsufficientStorageError, match="disk is full"):
            cas.put_file(source)
        assert leftovers(disk / "artifacts") == []
