"""Dataset benchmark (issue 14, datasets part).

1. Snapshot a Parquet dataset (a folder of Parquet files, ``--mb`` in all, default 1024) vs ``cp -r``
   of the same folder to the same disk, and vs ``cp -r`` + fsync of every file (the store fsyncs
   each blob). Target: snapshot >= 70% of cp's speed.
2. Re-snapshot of the unchanged folder. Target: < 1 s.
3. Add ``--files`` small files (default 100,000, 1-4 KB each) vs ``dvc add`` (DVC from
   ``bench/.venv-dvc``: ``python -m venv bench/.venv-dvc && bench/.venv-dvc/bin/pip install dvc``;
   skipped when missing). Target: >= 10x faster.

Run: ``PYTHONPATH=src python bench/data.py [--mb 1024] [--files 100000] [--dir PATH]``.
Every run generates fresh random data in a new temp folder under ``--dir`` (default: tmp).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from shipyard.core.settings import load_settings
from shipyard.data.service import DatasetService
from shipyard.tracking.stores import open_stores

DVC = Path(__file__).resolve().parent / ".venv-dvc" / "bin" / "dvc"


def _parquet_folder(root: Path, mb: int, files: int = 8) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True)
    rng = np.random.default_rng()
    rows = mb * (1 << 20) // files // 24  # three 8-byte columns
    total = 0
    for i in range(files):
        table = pa.table(
            {"id": np.arange(rows, dtype=np.int64) + i * rows, "x": rng.random(rows), "y": rng.random(rows)}
        )
        pq.write_table(table, root / f"part-{i:02d}.parquet", compression="none")
        total += (root / f"part-{i:02d}.parquet").stat().st_size
    return total


def _small_files(root: Path, n: int) -> None:
    rng = np.random.default_rng()
    for i in range(n):
        folder = root / f"{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"{i:06d}.txt").write_bytes(rng.bytes(int(rng.integers(1024, 4096))))


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def _fsync_tree(root: Path) -> None:
    for folder, _, names in os.walk(root):
        for name in names:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _drop_page_cache_hint(root: Path) -> None:
    """Read the files once, so every contender starts from a warm page cache."""
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                while f.read(16 << 20):
                    pass


def bench_parquet(work: Path, mb: int) -> None:
    src = work / "parquet"
    size = _parquet_folder(src, mb)
    _drop_page_cache_hint(src)
    cp = _timed(lambda: subprocess.run(["cp", "-r", str(src), str(work / "cp1")], check=True))
    cp_sync = _timed(
        lambda: (
            subprocess.run(["cp", "-r", str(src), str(work / "cp2")], check=True),
            _fsync_tree(work / "cp2"),
        )
    )
    stores = open_stores(load_settings(home=work / "home", artifacts=str(work / "store")))
    service = DatasetService(stores)
    first = _timed(lambda: service.snapshot("big", src))
    again = _timed(lambda: service.snapshot("big", src))
    stores.close()
    mbs = size / (1 << 20)
    print(f"parquet folder: {mbs:.0f} MB in 8 files")
    print(f"  cp -r            {cp:7.2f} s  {mbs / cp:7.0f} MB/s")
    print(f"  cp -r + fsync    {cp_sync:7.2f} s  {mbs / cp_sync:7.0f} MB/s")
    print(
        f"  snapshot         {first:7.2f} s  {mbs / first:7.0f} MB/s  = {cp / first:.0%} of cp, "
        f"{cp_sync / first:.0%} of cp+fsync (target >= 70% of cp)"
    )
    print(f"  re-snapshot      {again:7.2f} s  (unchanged; target < 1 s)")


def bench_small_files(work: Path, n: int) -> None:
    src = work / "small"
    _small_files(src, n)
    _drop_page_cache_hint(src)
    stores = open_stores(load_settings(home=work / "home2", artifacts=str(work / "store2")))
    ours = _timed(lambda: DatasetService(stores).snapshot("small", src))
    stores.close()
    print(f"{n:,} small files:")
    print(f"  shipyard data add {ours:7.2f} s")
    if not DVC.exists():
        print(f"  dvc add          skipped: {DVC} is missing (see the module doc)")
        return
    repo = work / "dvc-repo"
    repo.mkdir()
    shutil.move(str(src), repo / "small")
    subprocess.run([str(DVC), "init", "--no-scm", "-q"], cwd=repo, check=True)
    dvc = _timed(lambda: subprocess.run([str(DVC), "add", "-q", "small"], cwd=repo, check=True))
    print(f"  dvc add          {dvc:7.2f} s  -> shipyard is {dvc / ours:.1f}x faster (target >= 10x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None, help="folder on the disk to test (default: tmp)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-data-", dir=args.dir))
    try:
        if args.mb:
            bench_parquet(work, args.mb)
        if args.files:
            bench_small_files(work, args.files)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
