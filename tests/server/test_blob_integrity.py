"""Blob reads do not trust the filesystem: a blob file (or one of its folders) replaced by a
symbolic link is refused, and bytes that do not hash to their digest never make a complete,
successful response, on the REST blob route and the UI's download alike.

A damaged store is the server's fault, not the caller's: both answer **500** with code
``integrity_error`` (the error table's status for it), a one-line JSON error on the REST route,
before any byte of the blob is sent; past ``VERIFY_FIRST_BYTES`` the bytes stream as they are
verified and a mismatch cuts the transfer short of its Content-Length."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from shipyard.artifacts.cas import blob_key
from shipyard.core.clock import utcnow
from shipyard.core.entities import ArtifactRecord, RunCreate
from shipyard.core.errors import IntegrityError
from shipyard.core.ids import new_id
from tests.server.live import LiveServer

SECRET = b"root:x:0:0:the secret the link points at\n"


def _stored(server: LiveServer, data: bytes) -> tuple[str, Path]:
    digest = server.stores.artifacts.put_bytes(data)
    path = Path(server.stores.artifacts.blobs.location) / blob_key(digest)
    assert path.is_file()
    return digest, path


def _integrity_error(response: httpx.Response) -> None:
    assert response.status_code == 500, response.status_code
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == "integrity_error"
    assert "\n" not in body["error"]["message"]
    assert SECRET not in response.content


def _artifact(server: LiveServer, digest: str, size: int) -> tuple[str, str]:
    run = server.stores.metadata.create_run(
        RunCreate(id=new_id(), name="r", namespace="user:t", user="t", start_time=utcnow(), params={})
    )
    record = ArtifactRecord(
        id=new_id(), run_id=run.id, name="notes.txt", digest=digest, size=size,
        serializer="file", created_at=utcnow(), meta={},
    )  # fmt: skip
    server.stores.metadata.record_artifact(record)
    return run.id, record.id


def test_a_blob_replaced_by_a_link_is_refused(
    server: LiveServer, admin: httpx.Client, tmp_path: Path
) -> None:
    digest, path = _stored(server, b"real bytes " * 50)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    path.unlink()
    path.symlink_to(secret)
    _integrity_error(admin.get(f"/api/v1/blobs/sha256/{digest}"))
    assert admin.head(f"/api/v1/blobs/sha256/{digest}").status_code == 500
    run_id, artifact_id = _artifact(server, digest, 550)
    page = admin.get(f"/ui/runs/{run_id}/artifacts/{artifact_id}/download")
    assert page.status_code == 500 and SECRET not in page.content
    with pytest.raises(IntegrityError, match="link"):
        server.stores.artifacts.get_bytes(digest)


def test_a_blob_folder_replaced_by_a_link_is_refused(
    server: LiveServer, admin: httpx.Client, tmp_path: Path
) -> None:
    data = b"more real bytes"
    digest, path = _stored(server, data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / path.name).write_bytes(data)  # even the right bytes: a link is never followed
    folder = path.parent
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    folder.symlink_to(elsewhere, target_is_directory=True)
    _integrity_error(admin.get(f"/api/v1/blobs/sha256/{digest}"))


def test_a_tampered_blob_is_never_sent(server: LiveServer, admin: httpx.Client) -> None:
    data = b"A" * 4000
    digest, path = _stored(server, data)
    os.chmod(path, 0o644)
    path.write_bytes(b"B" * 4000)  # same size, other bytes
    _integrity_error(admin.get(f"/api/v1/blobs/sha256/{digest}"))
    run_id, artifact_id = _artifact(server, digest, len(data))
    page = admin.get(f"/ui/runs/{run_id}/artifacts/{artifact_id}/download")
    assert page.status_code == 500 and b"BBBB" not in page.content


def test_a_large_tampered_blob_never_completes(
    server: LiveServer, admin: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the in-memory bound the bytes stream while they are hashed; the last chunk is held
    back until the whole blob verified, so a mismatch leaves the response incomplete."""
    from shipyard.server import blob_responses

    monkeypatch.setattr(blob_responses, "VERIFY_FIRST_BYTES", 1024)
    monkeypatch.setattr(blob_responses, "CHUNK", 1024)
    data = os.urandom(10_000)
    digest, path = _stored(server, data)
    good = admin.get(f"/api/v1/blobs/sha256/{digest}")
    assert good.status_code == 200 and good.content == data
    assert hashlib.sha256(good.content).hexdigest() == digest
    os.chmod(path, 0o644)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # the last byte differs
    with pytest.raises(httpx.RemoteProtocolError):
        admin.get(f"/api/v1/blobs/sha256/{digest}")
    run_id, artifact_id = _artifact(server, digest, len(data))
    with pytest.raises(httpx.RemoteProtocolError):
        admin.get(f"/ui/runs/{run_id}/artifacts/{artifact_id}/download")
    path.write_bytes(data + b"extra")  # longer than its record: also cut short
    with pytest.raises(httpx.RemoteProtocolError):
        admin.get(f"/ui/runs/{run_id}/artifacts/{artifact_id}/download")


@pytest.mark.parametrize("damage", ["flipped", "truncated"])
def test_cli_artifacts_get_through_the_server_never_writes_damaged_bytes(
    server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    damage: str,
) -> None:
    """`shipyard artifacts get` over the REST blob route (issue 13, point 4): a damaged blob is a
    one-line error naming the artifact and nothing is written."""
    from shipyard.cli.main import main

    data = b"C" * 3000
    digest, path = _stored(server, data)
    run_id, _ = _artifact(server, digest, len(data))
    os.chmod(path, 0o644)
    path.write_bytes(b"D" * 3000 if damage == "flipped" else data[:1000])
    monkeypatch.setenv("SHIPYARD_URI", server.url)
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
    dest = tmp_path / "got.txt"
    capsys.readouterr()
    assert main(["artifacts", "get", run_id, "notes.txt", "-o", str(dest)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "unexpected" not in err, err
    assert "is corrupted" in err and digest in err, err
    assert not dest.exists() and list(tmp_path.glob(".got.txt*")) == []


def test_the_blake3_route_stores_verifies_and_serves_blake3_blobs(
    server: LiveServer, admin: httpx.Client
) -> None:
    import blake3

    data = os.urandom(3000)
    hexd = blake3.blake3(data).hexdigest()
    url = f"/api/v1/blobs/blake3/{hexd}"
    octet = {"Content-Type": "application/octet-stream"}
    assert admin.head(url).status_code == 404
    wrong = admin.put(url, content=data[:-1], headers=octet)
    assert wrong.status_code == 400 and "hash to blake3" in wrong.json()["error"]["message"]
    assert not server.stores.artifacts.cas.exists(f"blake3:{hexd}")  # nothing stored
    sha = hashlib.sha256(data).hexdigest()  # a sha256 digest on the blake3 route is not these bytes
    assert admin.put(f"/api/v1/blobs/blake3/{sha}", content=data, headers=octet).status_code == 400
    assert admin.put(url, content=data, headers=octet).status_code == 201
    assert admin.put(url, content=data, headers=octet).status_code == 200  # already stored
    assert admin.head(url).headers["content-length"] == str(len(data))
    assert admin.get(url).content == data
    assert admin.get(f"/api/v1/blobs/sha256/{hexd}").status_code == 404  # one address per algorithm
    path = Path(server.stores.artifacts.blobs.location) / blob_key(f"blake3:{hexd}")
    path.chmod(0o644)
    path.write_bytes(b"x" + data[1:])
    _integrity_error(admin.get(url))
