"""``HttpBackend``: artifact bytes through a shipyard server, addressed by content hash.

The content-addressed layer hands this backend keys of the form ``blobs/sha256/ab/cdef...`` (or
``blobs/blake3/...``); they map to ``PUT/GET/HEAD /api/v1/blobs/<sha256 or blake3>/<hex>`` on the
server, which checks the digest of what it receives. Uploads stream from disk; downloads stream
into a spooled temp file (bounded memory) that the caller reads and verifies. Listing and
deleting are not offered over HTTP.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import urlsplit

import httpx

from shipyard.artifacts._hashing import algorithm_of, hex_of
from shipyard.artifacts.backends.base import BlobBackend
from shipyard.artifacts.cas import digest_of_key
from shipyard.core.errors import (
    ConfigurationError,
    InsufficientStorageError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StorageError,
    UnauthenticatedError,
)

_CHUNK = 1024 * 1024
_SPOOL = 8 * 1024 * 1024
_OCTET = {"Content-Type": "application/octet-stream"}


def _path_of(key: str) -> str:
    """The blob route's path below ``/api/v1/blobs/`` for a content-store key:
    ``sha256/<hex>`` or ``blake3/<hex>``."""
    digest = digest_of_key(key)
    if digest is None:
        raise InvalidInputError(f"the server stores blobs by content hash only, not {key!r}")
    return f"{algorithm_of(digest)}/{hex_of(digest)}"


class HttpBackend(BlobBackend):
    def __init__(self, uri: str, token: str | None, timeout_s: float = 300.0) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"invalid server URI {uri!r}; use http://host:port")
        base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.location = f"{base} (server)"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(
            base_url=f"{base}/api/v1/blobs/",
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )

    def _check(self, response: httpx.Response, key: str) -> None:
        if response.status_code < 400:
            return
        try:
            message = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code}"
        where = f"{key} at {self.location}"
        if response.status_code == 404:
            raise NotFoundError(f"no blob {where}")
        if response.status_code == 401:
            raise UnauthenticatedError(f"{message} ({where})")
        if response.status_code == 403:
            raise PermissionDeniedError(f"{message} ({where})")
        if response.status_code in (400, 413, 415, 422):
            raise InvalidInputError(f"{message} ({where})")
        if response.status_code == 507:  # the server's disk is full: its message names it
            raise InsufficientStorageError(f"the server cannot store {key}: {message}")
        raise StorageError(f"{message} ({where})")

    def _request(self, method: str, key: str, *, replayable: bool = True, **kwargs: object) -> httpx.Response:
        """One request; HEADs and uploads of in-memory bytes (content-addressed, so idempotent) are
        sent again once when a kept-alive connection was dropped by the server."""
        path = _path_of(key)
        try:
            try:
                return self._client.request(method, path, **kwargs)  # type: ignore[arg-type]
            except (httpx.RemoteProtocolError, httpx.ConnectError):
                if not replayable:
                    raise
                return self._client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            raise StorageError(
                f"cannot reach the shipyard server for {key} at {self.location}: {exc}"
            ) from None

    def write_bytes(self, key: str, data: bytes | memoryview) -> None:
        self._check(self._request("PUT", key, content=bytes(data), headers=_OCTET), key)

    def write_file(self, key: str, path: Path) -> None:
        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as src:
                while chunk := src.read(_CHUNK):
                    yield chunk

        headers = {**_OCTET, "Content-Length": str(Path(path).stat().st_size)}
        response = self._request("PUT", key, replayable=False, content=chunks(), headers=headers)
        self._check(response, key)

    def open_read(self, key: str) -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - returned to the caller
        try:
            with self._client.stream("GET", _path_of(key)) as response:
                if response.status_code >= 400:
                    response.read()
                    self._check(response, key)
                for chunk in response.iter_bytes(_CHUNK):
                    spool.write(chunk)
        except httpx.TransportError as exc:
            spool.close()
            raise StorageError(
                f"cannot reach the shipyard server for {key} at {self.location}: {exc}"
            ) from None
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return cast(BinaryIO, spool)

    def exists(self, key: str) -> bool:
        response = self._request("HEAD", key)
        if response.status_code == 404:
            return False
        self._check(response, key)
        return True

    def size(self, key: str) -> int:
        response = self._request("HEAD", key)
        self._check(response, key)
        return int(response.headers.get("content-length", "0"))

    def delete(self, key: str) -> None:
        raise PermissionDeniedError(
            f"cannot delete {key} through the server; run `shipyard runs gc` where the artifact store is"
        )

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        raise PermissionDeniedError(
            "listing blobs is not offered through the server; run it where the artifact store is"
        )

    def close(self) -> None:
        self._client.close()
