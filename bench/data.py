"""Dataset benchmark (issue 14, datasets part).

1. Snapshot a Parquet dataset (a folder of ``--parquet-files`` Parquet files, ``--mb`` in all,
   default 8 files, 1024 MB) vs ``cp -r`` of the same folder to the same disk, and vs ``cp -r`` +
   fsync of every file (the store fsyncs each blob). ``--repeat`` rounds (default 5), the
   contenders interleaved in each; medians printed, and the load average before and after.
   Between contenders what one left dirty is synced and removed (untimed). Target: snapshot >= 70%
   of cp's speed. A snapshot does not wait for the disk by default (as cp); ``--durable``'s time
   (every blob fsynced first) is printed beside cp + fsync.
2. Re-snapshot of the unchanged folder. Target: < 1 s.
3. Add ``--files`` small files (default 100,000, 1-4 KB each) vs ``dvc add`` (DVC from
   ``bench/.venv-dvc``: ``python -m venv bench/.venv-dvc && bench/.venv-dvc/bin/pip install dvc``;
   skipped when missing). Target: >= 10x faster.

Run: ``PYTHONPATH=src python bench/data.py [--mb 1024] [--files 100000] [--dir PATH]``
(``PYTHONPATH`` at another checkout's ``src`` measures that code with this script).
Every run generates fresh random data in a new temp folder under ``--dir`` (default: tmp).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from shipyard.core.settings import load_settings
from shipyard.data.service import DatasetService
from shipyard.tracking.stores import open_stores

DVC = Path(__file__).resolve().parent / ".venv-dvc" / "bin" / "dvc"


def _parquet_folder(root: Path, mb: int, files: int) -> int:
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


def _timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def _cpu(who: int) -> float:
    used = resource.getrusage(who)
    return used.ru_utime + used.ru_stime


def _cpu_of(fn: object, *args: object) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children, all threads) of ``fn(*args)``."""
    before = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
    wall = _timed(fn, *args)
    return wall, _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - before


def _cp(src: Path, target: Path, fsync: bool = False) -> None:
    subprocess.run(["cp", "-r", str(src), str(target)], check=True)
    if fsync:
        _fsync_tree(target)


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


def _sync_and_remove(path: Path) -> None:
    """Untimed: write back what a contender left dirty, then remove it, so the next one starts
    from a clean page cache (the source stays cached)."""
    subprocess.run(["sync", "-f", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)


def bench_parquet(work: Path, mb: int, files: int, repeat: int) -> None:
    import shipyard

    src = work / "parquet"
    size = _parquet_folder(src, mb, files)
    _drop_page_cache_hint(src)
    cps, cp_syncs, firsts, agains, cp_cpu, snap_cpu, durables = [], [], [], [], [], [], []
    for i in range(repeat):  # interleaved, so each round's contenders share the machine's load
        target = work / f"cp-{i}"
        wall, cpu = _cpu_of(_cp, src, target)
        cps.append(wall)
        cp_cpu.append(cpu)
        _sync_and_remove(target)
        cp_syncs.append(_timed(_cp, src, target, True))
        _sync_and_remove(target)
        stores = open_stores(load_settings(home=work / f"home-{i}", artifacts=str(work / f"store-{i}")))
        service = DatasetService(stores)
        wall, cpu = _cpu_of(service.snapshot, "big", src)
        firsts.append(wall)
        snap_cpu.append(cpu)
        agains.append(_timed(service.snapshot, "big", src))
        stores.close()
        _sync_and_remove(work / f"store-{i}")
        shutil.rmtree(work / f"home-{i}", ignore_errors=True)
        fresh = open_stores(load_settings(home=work / f"home-{i}", artifacts=str(work / f"store-{i}")))
        durables.append(_timed(partial(DatasetService(fresh).snapshot, durable=True), "big", src))
        fresh.close()
        _sync_and_remove(work / f"store-{i}")
        shutil.rmtree(work / f"home-{i}", ignore_errors=True)
    cp, cp_sync, first, again, durable = (
        statistics.median(v) for v in (cps, cp_syncs, firsts, agains, durables)
    )
    mbs = size / (1 << 20)
    print(f"parquet folder: {mbs:.0f} MB in {files} file(s); shipyard from {Path(shipyard.__file__).parent}")
    print(f"  medians of {repeat} interleaved rounds (each round: {_fmt(cps)} | {_fmt(firsts)})")
    print(f"  cp -r            {cp:7.2f} s  {mbs / cp:7.0f} MB/s")
    print(f"  cp -r + fsync    {cp_sync:7.2f} s  {mbs / cp_sync:7.0f} MB/s")
    print(
        f"  snapshot         {first:7.2f} s  {mbs / first:7.0f} MB/s  = {cp / first:.0%} of cp, "
        f"{cp_sync / first:.0%} of cp+fsync (target >= 70% of cp; not waiting for the disk, as cp)"
    )
    print(
        f"  snapshot --durable {durable:5.2f} s  {mbs / durable:7.0f} MB/s  = {cp_sync / durable:.0%} of "
        "cp+fsync (every blob and folder fsynced before the version is recorded)"
    )
    ratios = sorted(c / f for c, f in zip(cps, firsts, strict=True))
    print(
        f"  per-round snapshot/cp speed: {', '.join(f'{r:.0%}' for r in ratios)} "
        f"(median {statistics.median(ratios):.0%})"
    )
    print(f"  re-snapshot      {again:7.2f} s  (unchanged; target < 1 s)")
    cpu_cp, cpu_snap = statistics.median(cp_cpu), statistics.median(snap_cpu)
    paired = statistics.median(c / f for c, f in zip(cp_cpu, snap_cpu, strict=True))
    print(
        f"  CPU time (all threads, median): cp {cpu_cp:.2f} s, snapshot {cpu_snap:.2f} s "
        f"(per-round cp / snapshot, median: {paired:.0%}: the ratio where CPU is the bottleneck)"
    )


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


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
    parser.add_argument("--parquet-files", type=int, default=8, help="the Parquet folder's files")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the Parquet contenders")
    parser.add_argument("--dir", type=Path, default=None, help="folder on the disk to test (default: tmp)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-data-", dir=args.dir))
    try:
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.mb:
            bench_parquet(work, args.mb, args.parquet_files, args.repeat)
        if args.files:
            bench_small_files(work, args.files)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
