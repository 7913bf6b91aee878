"""Blob garbage collection: delete artifact blobs no metadata points at any more.

Deleting a run (``shipyard runs delete``) removes its records, not its blobs: blobs are shared by
content, so one may still back another run's artifact or a model version. ``collect_garbage``
lists the blob store, reads every referenced digest from the metadata store
(:meth:`~shipyard.metadata.base.MetadataStore.referenced_digests`) and deletes the blobs that are
unreferenced *and* older than a grace period (``min_age_s``).

The grace period covers writes in flight: a blob is written before the record that points at it,
and a write that finds its blob already stored touches it (the content-addressed layer calls
:meth:`~shipyard.artifacts.backends.base.BlobBackend.touch`), so a blob about to be referenced is
always young. Each candidate's age is read again right before it is deleted. A backend that cannot
tell a blob's age keeps it. Run it where the stores are (not through a server), like ``mlflow gc``.

It also removes what killed writers left behind (:meth:`~shipyard.artifacts.cas.ContentStore.clean_stale`):
temp files of blob writes and server uploads (``.staging/.tmp-*``, ``.staging/.upload-*`` of a local
store, ``<home>/scratch`` for a remote one) and unfinished S3 multipart uploads under the store's
prefix, once they have been idle for ``temp_min_age_s`` (default an hour; a live writer keeps its
file or upload active, so it is never touched).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shipyard.artifacts.cas import BLOB_PREFIXES, digest_of_key
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.tracking.stores import Stores

DEFAULT_MIN_AGE_S = 24 * 3600.0
DEFAULT_TEMP_MIN_AGE_S = 3600.0


@dataclass(frozen=True)
class GcReport:
    blobs: int  # blobs found in the store
    referenced: int  # kept: the metadata points at them
    young: int  # kept: unreferenced but written or used within the grace period (or age unknown)
    deleted: int  # deleted (or, with dry_run, that would be)
    deleted_bytes: int
    dry_run: bool
    temp_files: int = 0  # temp files of killed writers removed
    temp_bytes: int = 0
    uploads_aborted: int = 0  # unfinished multipart uploads aborted
    upload_bytes: int = 0


def collect_garbage(
    stores: Stores,
    *,
    min_age_s: float = DEFAULT_MIN_AGE_S,
    dry_run: bool = False,
    temp_min_age_s: float = DEFAULT_TEMP_MIN_AGE_S,
) -> GcReport:
    """Delete unreferenced blobs older than ``min_age_s`` seconds and what killed writers left,
    idle for ``temp_min_age_s`` seconds (see the module doc)."""
    for label, value in (("min_age_s", min_age_s), ("temp_min_age_s", temp_min_age_s)):
        if value < 0:
            raise InvalidInputError(f"{label} must not be negative, got {value}")
    stale = stores.artifacts.cas.clean_stale(time.time() - temp_min_age_s, dry_run=dry_run)
    backend = stores.artifacts.blobs
    listed = [
        (info, digest)
        for prefix in BLOB_PREFIXES
        for info in backend.list_blobs(prefix)
        if (digest := digest_of_key(info.key))
    ]
    referenced = stores.metadata.referenced_digests()  # read after listing: a newer blob is young
    cutoff = time.time() - min_age_s
    kept = young = deleted = deleted_bytes = 0
    for info, digest in listed:
        if digest in referenced:
            kept += 1
            continue
        if info.modified is None or info.modified > cutoff:
            young += 1
            continue
        try:
            now = backend.stat(info.key)  # touched since the listing? then it is in use again
        except NotFoundError:
            continue
        if now.modified is None or now.modified > cutoff:
            young += 1
            continue
        if not dry_run:
            backend.delete(info.key)
        deleted += 1
        deleted_bytes += now.size
    return GcReport(
        len(listed),
        kept,
        young,
        deleted,
        deleted_bytes,
        dry_run,
        stale.files,
        stale.file_bytes,
        stale.uploads,
        stale.upload_bytes,
    )
