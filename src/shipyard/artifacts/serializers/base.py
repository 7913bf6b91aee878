"""The serializer interface: ``accepts`` a value by type, ``dump`` it to a blob, ``load`` it back.

A serializer writes through a :class:`~shipyard.artifacts.cas.BlobWriter` (so hashing overlaps the
write) and returns the ``meta`` needed to load the value again (JSON-able: it is kept in the
metadata store). ``dump`` raises :class:`Fallthrough` when, after a closer look, it cannot store a
value it accepted (the store then tries the next serializer); ``load`` reads through a
:class:`BlobSource`, which only ever hands out verified bytes.
"""

from __future__ import annotations

import abc
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.artifacts.cas import BlobWriter, ContentStore, VerifyingReader
from shipyard.artifacts.unpack import UnpackLimits


class Fallthrough(Exception):
    """This serializer cannot store the value after all; the next one that accepts it is tried."""


@dataclass
class Dumped:
    meta: dict[str, Any] = field(default_factory=dict)
    unsafe: bool = False


@dataclass(frozen=True)
class BlobSource:
    """Verified access to one stored blob, for ``Serializer.load``; ``limits`` bound what a
    serializer may unpack from it (archives, skops files)."""

    cas: ContentStore
    digest: str
    name: str | None
    limits: UnpackLimits = field(default_factory=UnpackLimits)

    def read_bytes(self) -> bytes:
        return self.cas.get_bytes(self.digest, self.name)

    def open(self) -> VerifyingReader:
        return self.cas.open_verified(self.digest, self.name)

    def stored_size(self) -> int:
        """The size of the stored bytes (unverified: use it only to sanity-check a header)."""
        from shipyard.artifacts.cas import blob_key

        return self.cas.blobs.size(blob_key(self.digest))

    def to_file(self, dest: Path) -> Path:
        return self.cas.get_file(self.digest, dest, self.name)

    @property
    def label(self) -> str:
        return self.name if self.name is not None else self.digest


class Serializer(abc.ABC):
    name: str
    unsafe: bool = False  # loading may execute code

    @abc.abstractmethod
    def accepts(self, obj: object) -> bool:
        """Cheap type test; must not import heavy libraries (see :func:`loaded_module`)."""

    @abc.abstractmethod
    def dump(self, obj: Any, out: BlobWriter) -> Dumped: ...

    @abc.abstractmethod
    def load(self, blob: BlobSource, meta: dict[str, Any], *, allow_unsafe: bool) -> Any: ...


def loaded_module(name: str) -> Any:
    """The module if something already imported it, else None: a value of a library's type can
    only exist once that library is imported, so type tests never need to import it."""
    return sys.modules.get(name)


def qualified_type(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"
