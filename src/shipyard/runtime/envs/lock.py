"""Requirements -> a lock: every package pinned to one version with its hashes, resolved by
``uv pip compile`` for one Python version.

A lock is cached under ``<home>/envs/locks/<request key>.txt`` (the key: the sorted requirements
and the Python version), so the same declaration resolves once; delete the file to re-resolve.
A lock's own hash (sha256 of the Python version and the lock text) names its environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.errors import FlowError
from shipyard.runtime.envs.uv import one_line, run_uv


def current_python() -> str:
    """``"3.11"``: the version of the interpreter tasks run on."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class EnvRequest:
    """What a step needs: requirement strings for one Python version."""

    python: str
    requirements: tuple[str, ...]

    @property
    def key(self) -> str:
        body = json.dumps({"python": self.python, "requirements": sorted(self.requirements)})
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Lock:
    python: str
    text: str  # uv's lock: one ``name==version --hash=...`` per package
    requirements: tuple[str, ...]  # what was asked for

    @property
    def hash(self) -> str:
        return hashlib.sha256(f"python {self.python}\n{self.text}".encode()).hexdigest()

    @property
    def request(self) -> EnvRequest:
        return EnvRequest(self.python, self.requirements)

    def pins(self) -> dict[str, str]:
        """``{normalized name: version}`` of every package in the lock."""
        from packaging.utils import canonicalize_name

        found: dict[str, str] = {}
        for line in self.text.splitlines():
            head = line.strip().split(" ", 1)[0].split(";", 1)[0]
            if "==" in head and not head.startswith(("#", "-")):
                name, _, version = head.partition("==")
                found[canonicalize_name(name.split("[", 1)[0])] = version
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"python": self.python, "lock": self.text, "requirements": list(self.requirements)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lock:
        return cls(str(data["python"]), str(data["lock"]), tuple(data.get("requirements") or ()))


def resolve(request: EnvRequest, owner: str, cache_dir: Path) -> Lock:
    """The lock for ``request``: from the cache, else resolved by uv (FlowError naming ``owner``
    and what uv could not resolve, on one line)."""
    cached = cache_dir / f"{request.key}.txt"
    if cached.is_file():
        return Lock(request.python, cached.read_text(encoding="utf-8"), request.requirements)
    code, out, err = run_uv(
        [
            "pip",
            "compile",
            "-",
            "--python-version",
            request.python,
            "--generate-hashes",
            "--no-header",
            "--no-annotate",
            "--quiet",
        ],
        stdin="\n".join(request.requirements) + "\n",
    )
    if code != 0:
        raise FlowError(f"{owner}: cannot resolve {', '.join(request.requirements)}: {one_line(err)}")
    write_atomic(cached, out)
    return Lock(request.python, out, request.requirements)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
