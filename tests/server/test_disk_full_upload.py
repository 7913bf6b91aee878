"""An artifact upload to a server whose artifact disk is full: 507 with a JSON error naming the
disk, the temp file removed, nothing stored under the digest; the SDK raises one clear error."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from shipyard.artifacts.backends.http import HttpBackend
from shipyard.artifacts.cas import ContentStore
from shipyard.core.errors import InsufficientStorageError
from shipyard.server.app import ServerConfig
from tests.server.live import live_server
from tests.tmpfs import leftovers, small_disk


def test_upload_to_a_full_disk_answers_507(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    config = ServerConfig(max_blob_bytes=16 * 1024 * 1024)
    with small_disk(tmp_path) as disk, live_server(tmp_path, config, artifacts=disk / "art") as server:
        headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/octet-stream"}
        response = httpx.put(f"{server.url}/api/v1/blobs/sha256/{digest}", content=data, headers=headers)
        assert response.status_code == 507, response.text
        error = response.json()["error"]
        assert error["code"] == "insufficient_storage"
        assert "disk is full" in error["message"] and str(disk) in error["message"]
        assert leftovers(disk / "art") == []  # temp gone, no partial blob under a final name
        with pytest.raises(InsufficientStorageError, match="disk is full"):
            ContentStore(HttpBackend(server.url, server.token)).put_bytes(data)
        assert leftovers(disk / "art") == []
        small = b"fits"  # the server keeps working once the upload failed
        ok = httpx.put(
            f"{server.url}/api/v1/blobs/sha256/{hashlib.sha256(small).hexdigest()}",
            content=small,
            headers=headers,
        )
        assert ok.status_code == 201


def test_openapi_documents_507_on_uploads(tmp_path: Path) -> None:
    with live_server(tmp_path) as server:
        auth = {"Authorization": f"Bearer {server.token}"}
        spec = httpx.get(f"{server.url}/openapi.json", headers=auth).json()
    put = spec["paths"]["/api/v1/blobs/sha256/{digest}"]["put"]
    assert "507" in put["responses"]
