"""Public API of the artifact layer (signatures fixed; implementation owned by the artifacts work).

``ArtifactStore`` = content-addressed blobs (sha256, written once, atomic, verified on read) over a
:class:`~shipyard.artifacts.backends.base.BlobBackend`, plus serializers chosen by the object's type.
Everything above this layer (tracking, runtime, registry) uses only this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.artifacts.backends.base import BlobBackend
from shipyard.artifacts.cas import ContentStore, validate_digest
from shipyard.artifacts.unpack import UnpackLimits
from shipyard.core.clock import utcnow
from shipyard.core.entities import ArtifactRecord
from shipyard.core.errors import InvalidInputError, NotFoundError, SerializationError
from shipyard.core.ids import new_id

if TYPE_CHECKING:
    from shipyard.artifacts.serializers import Serializer

__all__ = ["ArtifactStore", "StoredObject"]


@dataclass(frozen=True)
class StoredObject:
    """What was written: enough to load it again (the metadata store keeps these fields)."""

    digest: str  # sha256 hex of the stored bytes
    size: int
    serializer: str  # the serializer's name: numpy, parquet, json, bytes, file, dir, sklearn, pickle
    unsafe: bool = False  # loading it may execute code (pickle-based)
    meta: dict[str, Any] = field(default_factory=dict)  # serializer-specific (dtype, shape, type...)

    @classmethod
    def of(cls, record: ArtifactRecord) -> StoredObject:
        """What a metadata record says was stored (to load it back)."""
        return cls(record.digest, record.size, record.serializer, record.unsafe, dict(record.meta))

    def record(
        self,
        run_id: str,
        name: str,
        *,
        task_id: str | None = None,
        meta: dict[str, Any] | None = None,
        unsafe: bool | None = None,
    ) -> ArtifactRecord:
        """A new metadata record naming this stored object as ``name`` of a run (and task)."""
        return ArtifactRecord(
            id=new_id(),
            run_id=run_id,
            name=name,
            digest=self.digest,
            size=self.size,
            serializer=self.serializer,
            created_at=utcnow(),
            task_id=task_id,
            unsafe=self.unsafe if unsafe is None else unsafe,
            meta=dict(self.meta if meta is None else meta),
        )


class ArtifactStore:
    """Typed objects and raw bytes in a content-addressed store.

    Build it from settings with :func:`shipyard.artifacts.registry.open_artifact_store`, or over a
    backend directly: ``ArtifactStore(LocalBackend(path))``. Serializers, in the order tried: numpy,
    parquet (pandas/pyarrow), json, bytes, file, dir, sklearn (skops), pickle (``unsafe``). Loading a
    ``file``/``dir`` artifact with :meth:`get_object` makes a verified copy in a new temp folder that
    the caller owns (removed again when loading fails); use :meth:`get_to_path` to choose where it
    goes. ``limits`` bound what unpacking a folder, model package or skops file may produce.
    """

    def __init__(
        self, blobs: BlobBackend, limits: UnpackLimits | None = None, scratch: Path | None = None
    ) -> None:
        self.blobs = blobs
        self.cas = ContentStore(blobs, scratch)
        self.limits = limits if limits is not None else UnpackLimits()
        self._serializers: list[Serializer] | None = None

    @property
    def serializers(self) -> list[Serializer]:
        """The serializers tried in order (built on first use: no heavy imports at startup)."""
        if self._serializers is None:
            from shipyard.artifacts.serializers import default_serializers

            self._serializers = default_serializers()
        return self._serializers

    def close(self) -> None:
        self.blobs.close()

    # raw content-addressed bytes -------------------------------------------------------------
    def put_bytes(self, data: bytes | memoryview) -> str:
        """Store bytes once; return their sha256 hex digest."""
        return self.cas.put_bytes(data)

    def put_file(self, path: Path) -> tuple[str, int]:
        """Store a file's bytes once, streaming; return (digest, size)."""
        return self.cas.put_file(Path(path))

    def get_bytes(self, digest: str, name: str | None = None) -> bytes:
        """The verified bytes; IntegrityError naming ``name`` (or the digest) on mismatch."""
        return self.cas.get_bytes(digest, name)

    def get_file(self, digest: str, dest: Path, name: str | None = None) -> Path:
        """Write the verified bytes to ``dest`` atomically; nothing appears at ``dest`` if bad."""
        return self.cas.get_file(digest, Path(dest), name)

    def exists(self, digest: str) -> bool:
        return self.cas.exists(digest)

    # typed objects -----------------------------------------------------------------------------
    def put_object(self, obj: Any) -> StoredObject:
        """Serialize ``obj`` with the first serializer that accepts its type and store it.
        Objects no safe serializer covers fall back to pickle, marked ``unsafe=True``."""
        from shipyard.artifacts.serializers import Fallthrough

        for serializer in self.serializers:
            if not serializer.accepts(obj):
                continue
            with self.cas.writer() as out:
                try:
                    dumped = serializer.dump(obj, out)
                except Fallthrough:
                    out.abort()
                    continue
                digest, size = out.commit()
            unsafe = dumped.unsafe or serializer.unsafe
            return StoredObject(digest, size, serializer.name, unsafe, dumped.meta)
        raise SerializationError(
            f"cannot store a value of type {type(obj).__module__}.{type(obj).__qualname__}: "
            "no serializer accepts it; convert it to a supported type (numpy array, DataFrame, "
            "JSON value, bytes, Path) or make it picklable"
        )

    def put_path(self, path: Path) -> StoredObject:
        """Store a file (serializer ``file``) or a directory tree (serializer ``dir``)."""
        path = Path(path)
        if not path.exists():
            raise NotFoundError(f"cannot store {path}: no such file or folder")
        if not (path.is_file() or path.is_dir()):
            raise InvalidInputError(f"cannot store {path}: it is neither a regular file nor a folder")
        stored = self.put_object(path)
        if stored.serializer not in ("file", "dir"):  # pragma: no cover - serializer order guarantees it
            raise SerializationError(f"{path} was stored as {stored.serializer!r}, expected file or dir")
        return stored

    def get_object(self, stored: StoredObject, *, name: str | None = None, allow_unsafe: bool = False) -> Any:
        """Load an object back. Objects whose loading runs code from the artifact (pickle; a skops
        file with types off the allow-list) are refused with SerializationError unless
        ``allow_unsafe=True``. ``file``/``dir`` objects load as a Path to a verified local copy."""
        from shipyard.artifacts.serializers import BlobSource, serializer_named
        from shipyard.artifacts.serializers.pickle_ import refuse_unsafe

        digest = validate_digest(stored.digest)
        label = name if name is not None else digest
        serializer = serializer_named(stored.serializer, self.serializers)
        if (stored.unsafe or serializer.unsafe) and not allow_unsafe:
            python_type = stored.meta.get("python_type", "an object")
            raise refuse_unsafe(label, f"({python_type}, stored with {stored.serializer}) is marked unsafe")
        source = BlobSource(self.cas, digest, name, self.limits)
        return serializer.load(source, stored.meta, allow_unsafe=allow_unsafe)

    def get_to_path(self, stored: StoredObject, dest: Path, *, name: str | None = None) -> Path:
        """Materialize a ``file``/``dir`` artifact (or any artifact's raw bytes) at ``dest``."""
        from shipyard.artifacts.serializers import BlobSource
        from shipyard.artifacts.serializers.paths import extract_dir

        digest = validate_digest(stored.digest)
        if stored.serializer == "dir":
            return extract_dir(BlobSource(self.cas, digest, name, self.limits), Path(dest))
        return self.cas.get_file(digest, Path(dest), name)
