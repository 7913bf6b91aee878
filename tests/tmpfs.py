"""A small full-able filesystem for disk-full tests: a 2 MiB tmpfs (as root), else a loop-mounted
ext2 file, else the test skips with the reason (fails in CI, see :mod:`tests.services`)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.services import require

SIZE = 2 * 1024 * 1024


def _mount(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


@contextmanager
def small_disk(where: Path) -> Iterator[Path]:
    """A mounted 2 MiB filesystem at ``where/disk`` (unmounted afterwards)."""
    mount_at = where / "disk"
    mount_at.mkdir(parents=True)
    why = _mount(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_at)])
    if why is not None and shutil.which("mkfs.ext2"):
        image = where / "disk.img"
        with open(image, "wb") as f:
            f.truncate(SIZE)
        made = _mount(["mkfs.ext2", "-q", "-F", str(image)])
        why = made or _mount(["mount", "-o", "loop", str(image), str(mount_at)])
    require(why is None, f"cannot mount a small filesystem (tmpfs or loop) for a disk-full test: {why}")
    try:
        yield mount_at
    finally:
        subprocess.run(["umount", "-l", str(mount_at)], capture_output=True, timeout=30, check=False)


def leftovers(root: Path) -> list[str]:
    """Every file under ``root`` (temp files a failed write must not leave behind)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
