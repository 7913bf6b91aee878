"""A run's code as one content-addressed artifact, so a task runs anywhere without a shared checkout.

:func:`build_code_package` packs the flow file, the project's local Python modules (with the data
files of its Python packages) and ``shipyard.yaml`` into a deterministic tar (sorted, mtimes, owners
and modes fixed: the same code gives the same digest, so an unchanged project stores nothing new)
and stores it in the artifact store. The project root is the nearest folder above the flow file
holding ``shipyard.yaml`` or ``.git`` (else the flow file's folder). Inside a git repository the
files are what ``git ls-files --cached --others --exclude-standard`` lists (so ``.gitignore`` is
honoured); elsewhere a walk that skips hidden folders, virtual environments, ``__pycache__`` and
``node_modules`` and applies the root's ``.gitignore``. The package is bounded
(``SHIPYARD_CODE_PACKAGE_MAX_BYTES``, default 64 MiB); the error names the largest files.

:func:`materialize` fetches a package by digest (verified), unpacks it like any ``dir`` artifact
(every member checked by :mod:`shipyard.artifacts.unpack` before it is written) into
``<home>/code/<digest>/`` via a temp folder and a rename (concurrent workers are safe: the first
rename wins, the others use its copy), and reuses it when present.
:func:`ensure_flow_module` is what a task calls: the flow file from disk when it is still there with
the run's source hash (the fast path), else the same file from the run's package.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from shipyard.artifacts.cas import validate_digest
from shipyard.artifacts.store import ArtifactStore, StoredObject
from shipyard.artifacts.unpack import check_name
from shipyard.core.environ import find_project_root
from shipyard.core.errors import FlowError, InvalidInputError
from shipyard.runtime.loader import file_hash, import_file
from shipyard.runtime.stores import RunStores

DEFAULT_MAX_BYTES = 64 << 20
MAX_FILES = 20_000  # files a package may hold (and entries a walk outside git may visit)
SPEC_FILE = "shipyard.yaml"
ARTIFACT_NAME = "code"  # the run's artifact record of its package (keeps the blob from gc)
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv", ".venv", "site-packages"})


@dataclass(frozen=True)
class CodePackage:
    """A stored package: its blob, the files in it and where the flow file is inside it."""

    digest: str
    size: int
    files: tuple[str, ...]  # relative POSIX paths, sorted
    flow_path: str  # the flow file, relative to the package root
    root: Path  # the project folder it was built from

    @property
    def spec(self) -> dict[str, Any]:
        """What ``Run.flow_spec["code_package"]`` records."""
        return {"digest": self.digest, "path": self.flow_path, "size": self.size, "files": len(self.files)}

    @property
    def stored(self) -> StoredObject:
        """As a ``dir`` artifact: ``shipyard artifacts get RUN code`` unpacks it as a folder."""
        meta = {"python_type": "pathlib.Path", "dirname": "code", "entries": len(self.files)}
        return StoredObject(self.digest, self.size, "dir", meta=meta)


def project_root(flow_file: Path) -> Path:
    """The nearest folder holding ``shipyard.yaml`` or ``.git`` above the flow file, else its folder."""
    folder = flow_file.resolve().parent
    return find_project_root(folder) or folder


def _git_files(root: Path) -> list[str] | None:
    """What git lists under ``root`` (tracked and untracked, not ignored); None outside a repository."""
    cmd = ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    names = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    return sorted({name for name in names if name})


def _walk_files(root: Path) -> list[str]:
    """Files under ``root`` outside git: hidden folders, environments and caches skipped, the root's
    ``.gitignore`` applied; refuses a folder of more than :data:`MAX_FILES` entries."""
    ignored = _gitignore(root)
    found: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and d not in _SKIP_DIRS and not ignored(prefix + d + "/")
        )
        seen += len(dirnames) + len(filenames)
        if seen > MAX_FILES:
            raise FlowError(
                f"the flow's project folder {root} holds more than {MAX_FILES:,} files; put a "
                f"{SPEC_FILE} (or a git repository) in the folder that holds the flow's code"
            )
        found.extend(prefix + f for f in filenames if not ignored(prefix + f))
    return sorted(found)


def _gitignore(root: Path) -> Any:
    """A predicate for paths the root's ``.gitignore`` excludes (nothing when there is none)."""
    path = root / ".gitignore"
    if not path.is_file():
        return lambda _name: False
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(path.read_text(errors="replace").splitlines())
    return spec.match_file


def _selected(names: Iterable[str], flow_path: str) -> list[str]:
    """Python modules, files inside Python packages (package data), the flow file, shipyard.yaml;
    never hidden files (``.env``...) or what lies in hidden folders, environments or caches."""
    names = {n for n in names if not any(p.startswith(".") or p in _SKIP_DIRS for p in n.split("/"))}
    packages = {str(PurePosixPath(n).parent) for n in names if PurePosixPath(n).name == "__init__.py"}

    def wanted(name: str) -> bool:
        if name.endswith(".py") or name == SPEC_FILE:
            return True
        parents = PurePosixPath(name).parents
        return any(str(p) in packages for p in parents if str(p) != ".")

    return sorted({n for n in names if wanted(n)} | {flow_path})


def package_files(flow_file: Path, root: Path | None = None) -> tuple[Path, str, list[str]]:
    """(project root, the flow file relative to it, the files a package of it holds)."""
    flow_file = flow_file.resolve()
    root = (root or project_root(flow_file)).resolve()
    flow_path = flow_file.relative_to(root).as_posix()
    listed = _git_files(root)
    names = _selected(listed if listed is not None else _walk_files(root), flow_path)
    files = []
    for name in names:
        path = root / name
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            continue  # a link out of the project is not the project's code
        if path.is_file():
            files.append(name)
    return root, flow_path, files


def _size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


def _check_bounds(root: Path, sizes: dict[str, int], max_bytes: int) -> None:
    if len(sizes) > MAX_FILES:
        raise FlowError(
            f"the code package of {root} would hold {len(sizes):,} files (at most {MAX_FILES:,}); "
            "add what is not code to .gitignore"
        )
    total = sum(sizes.values())
    if total > max_bytes:
        largest = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        shown = ", ".join(f"{name} ({_size_text(size)})" for name, size in largest)
        raise FlowError(
            f"the code package of {root} would be {_size_text(total)}, over the "
            f"{_size_text(max_bytes)} limit; largest files: {shown}; add them to .gitignore "
            "(or raise SHIPYARD_CODE_PACKAGE_MAX_BYTES)"
        )


def pack(root: Path, files: list[str]) -> bytes:
    """A deterministic uncompressed tar of ``files`` (relative to ``root``): sorted, regular files
    only, mtime 0, owner root, mode 0644 (0755 when executable)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = (root / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o755 if os.access(root / name, os.X_OK) else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class _PackCache:
    """The last tar built per project root in this process, reused while every file's size and
    mtime are unchanged (a notebook or test process starting many runs packs its project once)."""

    def __init__(self, roots: int = 4, max_bytes: int = 16 << 20) -> None:
        self.roots = roots
        self.max_bytes = max_bytes
        self.entries: dict[str, tuple[tuple[tuple[str, int, int, int], ...], bytes]] = {}

    def get(self, root: Path, signature: tuple[tuple[str, int, int, int], ...]) -> bytes | None:
        entry = self.entries.get(str(root))
        return entry[1] if entry is not None and entry[0] == signature else None

    def put(self, root: Path, signature: tuple[tuple[str, int, int, int], ...], data: bytes) -> None:
        self.entries.pop(str(root), None)
        if len(data) <= self.max_bytes:
            while len(self.entries) >= self.roots:
                self.entries.pop(next(iter(self.entries)))
            self.entries[str(root)] = (signature, data)


_PACKED = _PackCache()


def build_code_package(
    flow_file: Path, artifacts: ArtifactStore, *, max_bytes: int = DEFAULT_MAX_BYTES, root: Path | None = None
) -> CodePackage:
    """Pack the flow's project (see the module doc) and store it; the same code stores nothing new."""
    root, flow_path, files = package_files(flow_file, root)
    stats = {name: (root / name).stat() for name in files}
    _check_bounds(root, {name: st.st_size for name, st in stats.items()}, max_bytes)
    signature = tuple((name, st.st_size, st.st_mtime_ns, st.st_mode) for name, st in sorted(stats.items()))
    data = _PACKED.get(root, signature)
    if data is None:
        data = pack(root, files)
        _PACKED.put(root, signature, data)
    digest = artifacts.put_bytes(data)
    return CodePackage(digest, len(data), tuple(sorted(files)), flow_path, root)


def materialize(digest: str, artifacts: ArtifactStore, cache_root: Path) -> Path:
    """The package's files under ``cache_root/<digest>``: fetched (verified), unpacked (bounded) and
    renamed into place once; reused when already there."""
    digest = validate_digest(digest)
    final = cache_root / digest
    if final.is_dir():
        return final
    package = StoredObject(digest, 0, "dir")
    try:  # verified, then unpacked member by member within the limits, in a temp folder renamed here
        return artifacts.get_to_path(package, final, name=f"code package {digest[:12]}")
    except (InvalidInputError, OSError):
        if final.is_dir():  # another worker's rename won: its copy is whole
            return final
        raise


def _same_file(path: Path, source_hash: str | None) -> bool:
    if not path.is_file():
        return False
    if source_hash is None:
        return True
    try:
        return file_hash(path) == source_hash
    except OSError:
        return False


def ensure_flow_module(spec: Mapping[str, Any], stores: RunStores) -> ModuleType:
    """The run's flow module (``spec`` is ``Run.flow_spec``): imported from ``spec["file"]`` when
    that file is here with the run's source hash, else from the run's code package (materialized
    under ``<home>/code``, its root on ``sys.path`` so the project's modules import)."""
    if "file" not in spec:
        raise FlowError("the run has no flow file; only flow runs have tasks")
    path = Path(spec["file"])
    source_hash = spec.get("source_hash")
    package = spec.get("code_package")
    if not isinstance(package, Mapping) or _same_file(path, source_hash):
        return import_file(path, source_hash)
    flow_path = str(package.get("path", ""))
    check_name("the run's code package", flow_path)  # a relative name inside it, never a path out
    root = materialize(str(package.get("digest")), stores.artifacts, stores.settings.home / "code")
    with contextlib.suppress(ValueError):
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    return import_file(root / flow_path, source_hash)
