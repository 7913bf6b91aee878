"""Artifact bytes by content hash: ``PUT/GET/HEAD /api/v1/blobs/sha256/{digest}``, and
``/api/v1/blobs/blake3/{digest}`` for the BLAKE3-addressed blobs of large dataset files.

Uploads stream to a temp file while hashing (never the whole body in memory), stop with 413 past
``max_blob_bytes``, must hash to the digest in the path (400 otherwise) and are then handed to the
content-addressed store. A full disk answers 507 ``insufficient_storage`` with the temp file removed
and nothing stored under the digest. Downloads are attachments with ``nosniff``, verified against the digest
before a complete answer leaves (``server/blob_responses.py``: a damaged or linked blob file
answers 500 ``integrity_error``); bytes are never deserialized here (pickle is never loaded in the
server process).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard.artifacts._hashing import BLAKE3, algorithm_of, hex_of, new_hasher
from shipyard.artifacts.backends.base import write_error
from shipyard.artifacts.cas import blob_key, validate_digest
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.server.deps import ctx_of, once
from shipyard.server.errors import error_response
from shipyard.server.schemas import Digest

router = APIRouter(prefix="/api/v1", tags=["artifacts"], dependencies=once())
_CHUNK = 1024 * 1024
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=31536000, immutable",
}
_OCTET = "application/octet-stream"


def _disposition(digest: str) -> str:
    return f'attachment; filename="{hex_of(digest)}.bin"'


_PUT = {
    "status_code": 201,
    "response_class": Response,
    "openapi_extra": {"requestBody": {"content": {_OCTET: {}}}},
    "responses": {
        200: {"description": "Already stored"},
        507: {
            "description": "Insufficient Storage: the disk holding the artifacts is full; nothing was "
            "stored (error code insufficient_storage)"
        },
    },
}
_GET = {
    "response_class": Response,
    "responses": {
        200: {"content": {_OCTET: {"schema": {"type": "string", "format": "binary"}}}},
        403: {"description": "the bytes belong to a dataset a data policy restricts for the caller"},
    },
}


@router.put("/blobs/sha256/{digest}", **_PUT)  # type: ignore[arg-type]
async def put_blob(request: Request, digest: Digest) -> Response:
    return await _put(request, digest)


@router.put("/blobs/blake3/{digest}", **_PUT)  # type: ignore[arg-type]
async def put_blake3_blob(request: Request, digest: Digest) -> Response:
    return await _put(request, BLAKE3 + digest)


@router.head("/blobs/sha256/{digest}", response_class=Response)
def head_blob(request: Request, digest: Digest) -> Response:
    return _head(request, digest)


@router.head("/blobs/blake3/{digest}", response_class=Response)
def head_blake3_blob(request: Request, digest: Digest) -> Response:
    return _head(request, BLAKE3 + digest)


@router.get("/blobs/sha256/{digest}", **_GET)  # type: ignore[arg-type]
def get_blob(request: Request, digest: Digest) -> Response:
    return _get(request, digest)


@router.get("/blobs/blake3/{digest}", **_GET)  # type: ignore[arg-type]
def get_blake3_blob(request: Request, digest: Digest) -> Response:
    return _get(request, BLAKE3 + digest)


async def _put(request: Request, digest: str) -> Response:
    import anyio.to_thread

    validate_digest(digest)
    ctx = ctx_of(request)
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != _OCTET:
        return error_response(
            415, "unsupported_media_type", f"upload blobs as {_OCTET}, not {ctype or 'nothing'}"
        )
    limit = ctx.config.max_blob_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return error_response(
            413, "payload_too_large", f"blob of {declared} bytes is over the limit of {limit}"
        )
    cas = ctx.stores.artifacts.cas
    if await anyio.to_thread.run_sync(cas.exists, digest):
        async for _ in request.stream():  # drain: the client sent it, we already have it
            pass
        return Response(status_code=200)
    staging = await anyio.to_thread.run_sync(cas.temp_dir)  # gc removes what a killed upload left
    try:
        fd, name = tempfile.mkstemp(prefix=".upload-", suffix=".blob", dir=staging)
    except OSError as exc:
        raise write_error(exc, f"blob {digest}", staging) from exc
    tmp = Path(name)
    try:
        algorithm = algorithm_of(digest)
        hasher, size = new_hasher(algorithm), 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return error_response(
                        413, "payload_too_large", f"blob is over the limit of {limit} bytes"
                    )
                hasher.update(chunk)
                await anyio.to_thread.run_sync(out.write, chunk)
            out.flush()
            os.fsync(out.fileno())
        if hasher.hexdigest() != hex_of(digest):
            raise InvalidInputError(
                f"uploaded bytes hash to {algorithm} {hasher.hexdigest()}, not {hex_of(digest)}; the "
                "upload was corrupted"
            )
        await anyio.to_thread.run_sync(cas.adopt, digest, tmp)
        return Response(status_code=201)
    except OSError as exc:  # a full disk answers 507; the temp file goes below, nothing is adopted
        raise write_error(exc, f"blob {digest}", staging) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _head(request: Request, digest: str) -> Response:
    blobs = ctx_of(request).stores.artifacts.blobs
    try:
        size = blobs.size(blob_key(digest))  # IntegrityError (500) for a linked blob file
    except NotFoundError:
        return Response(status_code=404)
    return Response(status_code=200, headers={"Content-Length": str(size), **_DOWNLOAD_HEADERS})


def _get(request: Request, digest: str) -> Response:
    from shipyard.server.blob_responses import blob_response
    from shipyard.server.data_access import blob_refusal

    validate_digest(digest)
    refused = blob_refusal(ctx_of(request), request, digest)
    if refused is not None:
        return error_response(403, "permission_denied", refused)
    headers = {**_DOWNLOAD_HEADERS, "Content-Disposition": _disposition(digest)}
    return blob_response(ctx_of(request).stores.artifacts.cas, digest, None, headers, _OCTET)
