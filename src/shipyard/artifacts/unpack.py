"""Bounds on unpacking archives: folder artifacts and model packages (tar), skops files (zip).

A small archive can declare huge contents: a 10 KB tar with one *sparse* member reads back as
gigabytes of zeros, a zip entry can declare any uncompressed size, and a tar can hold millions of
empty entries. Everything that unpacks an archive goes through here, and each member is checked
*before* anything is allocated or written for it: how many members there are, each member's
declared size and the running total against :class:`UnpackLimits`, and what kind of member it is
(regular files and folders; symlinks only where the caller allows them and only inside the tree;
never sparse files, hard links, devices or FIFOs; never absolute or ``..`` names).

The limits come from settings (``SHIPYARD_UNPACK_MAX_BYTES``, ``SHIPYARD_UNPACK_MAX_MEMBERS``) through
:class:`~shipyard.artifacts.store.ArtifactStore`; the defaults allow a 4 GiB package of 100,000 files.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from shipyard.core.errors import IntegrityError, SerializationError

if TYPE_CHECKING:
    import zipfile

DEFAULT_MAX_BYTES = 4 << 30
DEFAULT_MAX_MEMBERS = 100_000


def _size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class UnpackLimits:
    """The most an archive may unpack to: ``max_bytes`` in total (so also per member), and
    ``max_members`` entries."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_members < 1:
            raise ValueError("unpack limits must be positive")


class Budget:
    """Counts members and declared bytes; refuses the member that would go over a limit."""

    def __init__(self, label: str, limits: UnpackLimits) -> None:
        self.label = label
        self.limits = limits
        self.members = 0
        self.total = 0

    def take(self, name: str, size: int) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise SerializationError(
                f"{self.label} holds more than {self.limits.max_members:,} entries; refusing to unpack it "
                "(raise SHIPYARD_UNPACK_MAX_MEMBERS only if you trust it)"
            )
        if size < 0:
            raise IntegrityError(f"{self.label}: entry {name!r} declares a negative size")
        self.total += size
        if self.total > self.limits.max_bytes:
            raise SerializationError(
                f"{self.label} declares more than {_size_text(self.limits.max_bytes)} of content "
                f"(entry {name!r} alone: {_size_text(size)}); refusing to unpack it "
                "(raise SHIPYARD_UNPACK_MAX_BYTES only if you trust it)"
            )


def check_name(label: str, name: str) -> None:
    """Refuse absolute, ``..``, backslash, NUL and empty member names."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\x00" in name:
        raise IntegrityError(f"{label} holds an unsafe member name {name!r}; refusing it")


def tar_members(
    tar: tarfile.TarFile, label: str, limits: UnpackLimits, *, symlinks: bool
) -> Iterator[tarfile.TarInfo]:
    """The members of ``tar`` one at a time, each checked before it is yielded (never all read
    ahead: a tar of millions of headers is refused at the first one over the limit)."""
    budget = Budget(label, limits)
    while True:
        try:
            member = tar.next()
        except tarfile.TarError as exc:
            raise SerializationError(f"{label} is not a valid folder archive ({exc})") from None
        if member is None:
            return
        check_name(label, member.name)
        if member.issparse():
            raise IntegrityError(f"{label} holds a sparse file {member.name!r}; refusing it")
        if not (member.isreg() or member.isdir() or (symlinks and member.issym())):
            kinds = "a file, folder or symlink" if symlinks else "a file or folder"
            raise IntegrityError(f"{label} holds {member.name!r}, which is not {kinds}; refusing it")
        budget.take(member.name, member.size if member.isreg() else 0)
        yield member


def read_tar(data: bytes, label: str, limits: UnpackLimits) -> dict[str, bytes]:
    """The regular files of an uncompressed tar held in memory, by relative POSIX path (folders
    skipped; any other kind of member refused)."""
    files: dict[str, bytes] = {}
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 - closed just below
    except tarfile.TarError as exc:
        raise SerializationError(f"{label} is not a folder archive ({exc})") from None
    with tar:
        for member in tar_members(tar, label, limits, symlinks=False):
            name = member.name.removeprefix("./")
            if member.isdir() or name in ("", "."):
                continue
            start, end = member.offset_data, member.offset_data + member.size
            if end > len(data):
                raise IntegrityError(f"{label} is truncated inside {member.name!r}")
            files[name] = data[start:end]  # a plain (not sparse) member's bytes, as stored
    return files


def check_zip(archive: zipfile.ZipFile, label: str, budget: Budget, inside: str = "") -> None:
    """Refuse a zip whose entries (count, declared uncompressed sizes) take ``budget`` over its
    limits, before any entry is read (reading an entry never yields more than its declared size).
    Archives nested in one another share one budget (``inside``: the outer entry's path + "/")."""
    for info in archive.infolist():
        check_name(label, info.filename)
        budget.take(inside + info.filename, info.file_size)
