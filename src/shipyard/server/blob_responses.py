"""Sending a stored blob so that a client never gets a complete, successful response with bytes
that do not hash to the blob's digest (the REST blob route and the UI's download use it).

A blob up to :data:`VERIFY_FIRST_BYTES` is read and verified in full before its first byte leaves:
a mismatch (or a blob file that is a link, see ``artifacts/backends/local.py``) raises
:class:`~shipyard.core.errors.IntegrityError`, which answers 500 ``integrity_error`` (the error
table's status: the store is damaged, the request was fine). A larger blob streams while it is
hashed, with the last chunk held back until the whole blob verified; on a mismatch the transfer
stops short of its ``Content-Length``, which every HTTP client reports as an incomplete response,
and the server logs one line naming the blob.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from starlette.responses import Response, StreamingResponse

from shipyard.artifacts.cas import ContentStore, VerifyingReader, blob_key
from shipyard.core.errors import IntegrityError

VERIFY_FIRST_BYTES = 16 << 20  # verified in memory before sending; bigger blobs stream-verify
CHUNK = 1 << 20

log = logging.getLogger("shipyard.server")


def _read_up_to(reader: VerifyingReader, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = reader.read(min(CHUNK, n - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _length_error(label: str, size: int) -> IntegrityError:
    return IntegrityError(
        f"artifact {label!r} is corrupted: its stored bytes are longer than the {size} bytes "
        "it was stored with; re-create the artifact (the bad bytes were not returned)"
    )


def blob_response(
    cas: ContentStore, digest: str, name: str | None, headers: Mapping[str, str], media_type: str
) -> Response:
    """The verified bytes of ``digest`` (``name`` labels errors); NotFoundError when missing."""
    size = cas.blobs.size(blob_key(digest))
    label = name if name is not None else digest
    reader = cas.open_verified(digest, name)
    if size <= VERIFY_FIRST_BYTES:
        with reader:
            data = _read_up_to(reader, size + 1)
            if len(data) > size:
                raise _length_error(label, size)
            reader.verify()
        return Response(data, media_type=media_type, headers=dict(headers))
    return StreamingResponse(
        _verified_chunks(reader, size, label),
        media_type=media_type,
        headers={**headers, "Content-Length": str(size)},
    )


def _verified_chunks(reader: VerifyingReader, size: int, label: str) -> Iterator[bytes]:
    with reader:
        held = b""
        try:
            while chunk := reader.read(CHUNK):
                if reader.position > size:
                    raise _length_error(label, size)
                if held:
                    yield held
                held = chunk
            reader.verify()
        except IntegrityError as exc:
            log.error("download cut short: %s", exc.message)
            raise
        yield held  # the last chunk leaves only once the whole blob verified
