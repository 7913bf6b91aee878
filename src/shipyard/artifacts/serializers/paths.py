"""Files and directory trees.

A file is stored as its bytes. A directory is stored as a deterministic tar: entries sorted, mtimes,
owners and permission noise zeroed, so the same tree always gives the same digest. Symlinks are kept
only when they stay inside the tree; extraction refuses absolute or ``..`` member names, links that
escape, sparse files and anything but files, folders and symlinks, and stops at the unpack limits
(:mod:`shipyard.artifacts.unpack`) before writing anything. A failed load leaves no folder behind.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from shipyard.artifacts.cas import BlobWriter
from shipyard.artifacts.serializers.base import BlobSource, Dumped, Serializer
from shipyard.artifacts.unpack import tar_members
from shipyard.core.errors import IntegrityError, InvalidInputError, NotFoundError

_COPY_CHUNK = 16 << 20


def _is_path(obj: object) -> bool:
    return isinstance(obj, Path)


class FileSerializer(Serializer):
    name = "file"

    def accepts(self, obj: object) -> bool:
        return _is_path(obj) and Path(str(obj)).is_file()

    def dump(self, obj: Any, out: BlobWriter) -> Dumped:
        path = Path(obj)
        try:
            src = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError as exc:
            raise NotFoundError(f"cannot store {path}: no such file") from exc
        with src:
            while chunk := src.read(_COPY_CHUNK):
                out.write_stable(chunk)
        return Dumped({"python_type": "pathlib.Path", "filename": path.name})

    def load(self, blob: BlobSource, meta: dict[str, Any], *, allow_unsafe: bool) -> Any:
        folder = Path(tempfile.mkdtemp(prefix="shipyard-file-"))
        try:
            return blob.to_file(folder / _safe_filename(meta.get("filename"), blob.digest))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


def _safe_filename(name: object, default: str) -> str:
    text = str(name) if name else default
    if "/" in text or "\\" in text or text in (".", "..") or "\x00" in text:
        return default
    return text


def _tar_entries(root: Path) -> list[Path]:
    entries: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        for name in dirnames:
            entries.append(here / name)
        for name in sorted(filenames):
            entries.append(here / name)
    return sorted(entries, key=lambda p: p.relative_to(root).as_posix().split("/"))


def _link_stays_inside(root: Path, link: Path, target: str) -> bool:
    if os.path.isabs(target):
        return False
    resolved = os.path.normpath(os.path.join(os.path.dirname(link), target))
    return resolved == str(root) or resolved.startswith(str(root) + os.sep)


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isdir():
        info.mode = 0o755
    elif info.issym():
        info.mode = 0o777
    else:
        info.mode = 0o755 if info.mode & 0o100 else 0o644
    return info


class DirSerializer(Serializer):
    name = "dir"

    def accepts(self, obj: object) -> bool:
        return _is_path(obj) and Path(str(obj)).is_dir()

    def dump(self, obj: Any, out: BlobWriter) -> Dumped:
        root = Path(os.path.abspath(obj))
        count = 0
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for path in _tar_entries(root):
                rel = path.relative_to(root).as_posix()
                if path.is_symlink():
                    target = os.readlink(path)
                    if not _link_stays_inside(root, path, target):
                        raise InvalidInputError(
                            f"cannot store folder {root}: the symlink {rel} -> {target} points outside it; "
                            "replace it with a copy of the target or a relative link inside the folder"
                        )
                elif not (path.is_file() or path.is_dir()):
                    raise InvalidInputError(
                        f"cannot store folder {root}: {rel} is not a regular file, folder or symlink"
                    )
                info = _normalize(tar.gettarinfo(str(path), arcname=rel))
                if info.isreg():
                    with open(path, "rb") as src:
                        tar.addfile(info, src)
                else:
                    tar.addfile(info)
                count += 1
        return Dumped({"python_type": "pathlib.Path", "dirname": root.name, "entries": count})

    def load(self, blob: BlobSource, meta: dict[str, Any], *, allow_unsafe: bool) -> Any:
        folder = Path(tempfile.mkdtemp(prefix="shipyard-dir-"))
        try:
            return extract_dir(blob, folder / _safe_filename(meta.get("dirname"), blob.digest))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


def _check_link(label: str, member: tarfile.TarInfo, dest: Path) -> None:
    if member.issym() and not _link_stays_inside(dest, dest / member.name, member.linkname):
        raise IntegrityError(
            f"{label} holds a symlink {member.name} -> {member.linkname} that escapes the folder"
        )


def extract_dir(blob: BlobSource, dest: Path) -> Path:
    """Verify the tar blob, then unpack it at ``dest`` (which must not exist yet); every member is
    checked (kind, name, link target, the unpack limits) before anything is written."""
    dest = Path(os.path.abspath(dest))
    if dest.exists():
        raise InvalidInputError(f"cannot unpack artifact {blob.label!r} at {dest}: it already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        tar_path = blob.to_file(staging / "blob.tar")  # verified before anything is unpacked
        tree = staging / "tree"
        tree.mkdir()
        label = f"artifact {blob.label!r}"
        with tarfile.open(tar_path, mode="r:") as tar:
            members = []
            for member in tar_members(tar, label, blob.limits, symlinks=True):
                _check_link(label, member, tree)
                members.append(member)
            tar.extractall(tree, members=members, filter="data")
        os.replace(tree, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest
