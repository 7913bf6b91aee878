"""Error bodies, traversal attempts, content types, size limits and artifact transfer headers."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from shipyard.core.clock import utcnow
from shipyard.core.entities import RunCreate
from tests.server.live import LiveServer


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "application/json"
    assert "Traceback" not in response.text
    return str(body["error"]["message"])


def test_not_found_is_a_json_error(admin: httpx.Client) -> None:
    message = _error(admin.get("/api/v1/runs/" + "a" * 32), 404, "not_found")
    assert "a" * 32 in message


def test_bad_json_is_400_and_wrong_content_type_is_415(admin: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    _error(admin.post("/api/v1/runs", content=b"{not json", headers=headers), 400, "invalid_input")
    _error(admin.post("/api/v1/runs", json={"name": "missing fields"}), 400, "invalid_input")
    _error(admin.post("/api/v1/runs/x/metrics", content=b"[1, 2", headers=headers), 400, "invalid_input")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    _error(admin.post("/api/v1/runs", content=b"a=b", headers=form), 415, "unsupported_media_type")


def test_domain_errors_keep_their_code(server: LiveServer, admin: httpx.Client) -> None:
    run = server.stores.metadata.create_run(
        RunCreate(id="b" * 32, name="r", namespace="user:t", user="t", start_time=utcnow(), params={"lr": 1})
    )
    _error(admin.post(f"/api/v1/runs/{run.id}/params", json={"params": {"lr": 2}}), 409, "conflict")
    _error(admin.post(f"/api/v1/runs/{run.id}/params", json={"params": {"../x": 2}}), 400, "invalid_input")
    _error(admin.get("/api/v1/runs", params={"filter": "metrics.x >>> 1"}), 400, "invalid_input")


def test_unexpected_failures_answer_a_generic_500(
    server: LiveServer, admin: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(run_id: str) -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(server.stores.metadata, "get_run", boom)
    message = _error(admin.get("/api/v1/runs/" + "c" * 32), 500, "internal_error")
    assert "secret" not in message and "passwd" not in message


@pytest.mark.parametrize(
    "raw_path",
    [
        "/api/v1/runs/%2e%2e%2fetc%2fpasswd",
        "/api/v1/runs/..%2f..%2fx",
        "/api/v1/blobs/sha256/%2E%2E%5Cwindows",
        "/api/v1/runs/abc%00def",
        "/api/v1/runs/./x",
        "/api/v1//runs",
    ],
)
def test_traversal_attempts_are_refused(server: LiveServer, raw_path: str) -> None:
    # send the path byte for byte (httpx would normalize some of these)
    import socket

    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        request = (
            f"GET {raw_path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {server.token}\r\n"
            "Connection: close\r\n\r\n"
        )
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split()[1] == b"400", answer
    assert b'"invalid_input"' in body and b"path" in body


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("metric", {"key": "../../etc/passwd"}),
        ("tag", {"key": "/abs"}),
        ("artifact", {"name": "a/../../b"}),
        ("artifact", {"name": "nul\x00byte"}),
    ],
)
def test_traversal_in_names_is_refused(
    server: LiveServer, admin: httpx.Client, kind: str, params: dict[str, str]
) -> None:
    run_id = "d" * 32
    server.stores.metadata.create_run(
        RunCreate(id=run_id, name="r", namespace="n", user="u", start_time=utcnow())
    )
    path = {
        "metric": f"/api/v1/runs/{run_id}/metric-history",
        "tag": f"/api/v1/runs/{run_id}/tags",
        "artifact": f"/api/v1/runs/{run_id}/artifact",
    }[kind]
    response = admin.delete(path, params=params) if kind == "tag" else admin.get(path, params=params)
    _error(response, 400, "invalid_input")


def test_bad_digests_are_refused(admin: httpx.Client) -> None:
    _error(admin.get("/api/v1/blobs/sha256/" + "A" * 64), 400, "invalid_input")
    _error(admin.get("/api/v1/blobs/sha256/xyz"), 400, "invalid_input")


def test_json_bodies_past_the_limit_are_413(admin: httpx.Client) -> None:
    big = {"params": {"p": "x" * (300 * 1024)}}
    _error(admin.post("/api/v1/runs/x/params", json=big), 413, "payload_too_large")

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"params": {"p": "'
        for _ in range(400):
            yield b"x" * 1024
        yield b'"}}'

    response = admin.post(
        "/api/v1/runs/x/params", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _error(response, 413, "payload_too_large")


def test_blob_upload_download_round_trip(admin: httpx.Client) -> None:
    data = b"hello blob" * 100
    digest = hashlib.sha256(data).hexdigest()
    octet = {"Content-Type": "application/octet-stream"}
    assert admin.head(f"/api/v1/blobs/sha256/{digest}").status_code == 404
    assert admin.put(f"/api/v1/blobs/sha256/{digest}", content=data, headers=octet).status_code == 201
    assert admin.put(f"/api/v1/blobs/sha256/{digest}", content=data, headers=octet).status_code == 200
    got = admin.get(f"/api/v1/blobs/sha256/{digest}")
    assert got.content == data
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-type"] == "application/octet-stream"
    assert int(admin.head(f"/api/v1/blobs/sha256/{digest}").headers["content-length"]) == len(data)


def test_blob_uploads_are_verified_limited_and_typed(admin: httpx.Client) -> None:
    octet = {"Content-Type": "application/octet-stream"}
    data = b"some bytes"
    wrong = hashlib.sha256(b"other").hexdigest()
    message = _error(
        admin.put(f"/api/v1/blobs/sha256/{wrong}", content=data, headers=octet), 400, "invalid_input"
    )
    assert "hash" in message
    assert admin.head(f"/api/v1/blobs/sha256/{wrong}").status_code == 404
    big = b"x" * 5000  # the test server's limit is 4096 bytes
    big_digest = hashlib.sha256(big).hexdigest()
    _error(
        admin.put(f"/api/v1/blobs/sha256/{big_digest}", content=big, headers=octet), 413, "payload_too_large"
    )

    def stream():  # no Content-Length: counted while streaming
        yield big[:3000]
        yield big[3000:]

    _error(
        admin.put(f"/api/v1/blobs/sha256/{big_digest}", content=stream(), headers=octet),
        413,
        "payload_too_large",
    )
    assert admin.head(f"/api/v1/blobs/sha256/{big_digest}").status_code == 404
    digest = hashlib.sha256(data).hexdigest()
    _error(
        admin.put(f"/api/v1/blobs/sha256/{digest}", content=data, headers={"Content-Type": "text/html"}),
        415,
        "unsupported_media_type",
    )


class _Trap:
    """Unpickling this creates a marker file: proof that something loaded the pickle."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        import pathlib

        return (pathlib.Path.write_text, (pathlib.Path(self.marker), "pwned"))  # type: ignore[return-value]


def test_pickles_travel_as_bytes_and_are_never_loaded(
    server: LiveServer, admin: httpx.Client, tmp_path: object
) -> None:
    import pickle
    from pathlib import Path

    marker = Path(str(tmp_path)) / "marker"
    data = pickle.dumps(_Trap(str(marker)))
    digest = hashlib.sha256(data).hexdigest()
    octet = {"Content-Type": "application/octet-stream"}
    assert admin.put(f"/api/v1/blobs/sha256/{digest}", content=data, headers=octet).status_code == 201
    run_id = "e" * 32
    server.stores.metadata.create_run(
        RunCreate(id=run_id, name="r", namespace="n", user="u", start_time=utcnow())
    )
    record = {
        "id": "f" * 32,
        "run_id": run_id,
        "name": "model",
        "digest": digest,
        "size": len(data),
        "serializer": "pickle",
        "created_at": utcnow().isoformat(),
        "unsafe": True,
    }
    assert admin.post("/api/v1/artifacts", json=record).status_code == 201
    assert admin.get(f"/api/v1/runs/{run_id}/artifact", params={"name": "model"}).json()["unsafe"] is True
    assert admin.get(f"/api/v1/blobs/sha256/{digest}").content == data
    assert not marker.exists()
