"""Content-addressed environments: ``<home>/envs/<lock hash>/`` holds ``lock.txt``, ``env.json``
and ``site/`` (the lock's packages, installed with ``uv pip install --target --require-hashes``).

A folder under that name is complete by construction: it is built under a temporary name and
renamed into place, while a file lock (``.<hash>.lock``) keeps two processes from building the same
one. Nothing here reads a folder it did not find complete, so a killed build leaves only a
``.tmp-*`` folder behind. An image built by ``shipyard image build`` lays the same folders out, so
a task there finds its environment ready.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from shipyard.core.errors import FlowError
from shipyard.runtime.envs.lock import Lock
from shipyard.runtime.envs.uv import one_line, run_uv

SITE = "site"


def envs_root(home: Path) -> Path:
    return home.expanduser() / "envs"


def env_site(root: Path, lock_hash: str) -> Path | None:
    """The installed environment's ``site`` folder, or None when it is not built here."""
    site = root / lock_hash / SITE
    return site if site.is_dir() else None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def ensure_env(lock: Lock, root: Path, owner: str = "environment") -> Path:
    """The ``site`` folder of ``lock``'s environment, installed first if this machine lacks it."""
    found = env_site(root, lock.hash)
    if found is not None:
        return found
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f".{lock.hash}.lock"):
        found = env_site(root, lock.hash)
        if found is not None:  # another process built it while we waited
            return found
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{lock.hash[:12]}-", dir=root))
        try:
            (tmp / "lock.txt").write_text(lock.text, encoding="utf-8")
            code, _, err = run_uv(
                [
                    "pip",
                    "install",
                    "--target",
                    str(tmp / SITE),
                    "--python",
                    sys.executable,
                    "--no-deps",
                    "--require-hashes",
                    "--quiet",
                    "-r",
                    str(tmp / "lock.txt"),
                ]
            )
            if code != 0:
                raise FlowError(f"{owner}: cannot install its environment: {one_line(err)}")
            (tmp / SITE).mkdir(exist_ok=True)  # a lock with no packages still makes an environment
            meta = {"python": lock.python, "requirements": list(lock.requirements)}
            (tmp / "env.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
            os.rename(tmp, root / lock.hash)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return root / lock.hash / SITE
