"""Quick artifact benchmark: put_object/get_object of a 200 MB float64 array vs np.save/np.load.

Run: ``python bench/artifacts_quick.py [--mb 200] [--repeat 5] [--dir PATH]``. Every run uses fresh
random data; the baseline writes with ``np.save`` + fsync on the same disk. Prints the median of each
and the ratio (ours as a fraction of the baseline's throughput; the issue target is >= 0.70).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from shipyard.artifacts.backends.local import LocalBackend
from shipyard.artifacts.store import ArtifactStore


def _baseline_save(array: np.ndarray, path: Path) -> float:
    start = time.perf_counter()
    with open(path, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - start


def _baseline_load(path: Path) -> float:
    start = time.perf_counter()
    np.load(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="folder on the disk to test (default: tmp)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-", dir=args.dir))
    store = ArtifactStore(LocalBackend(work / "store"))
    rng = np.random.default_rng()
    n = args.mb * (1 << 20) // 8
    base_put, ours_put, base_get, ours_get = [], [], [], []
    try:
        for i in range(args.repeat):
            array = rng.random(n)
            target = work / f"baseline-{i}.npy"
            base_put.append(_baseline_save(array, target))
            base_get.append(_baseline_load(target))
            target.unlink()

            array = rng.random(n)  # fresh data: no dedup shortcut
            start = time.perf_counter()
            stored = store.put_object(array)
            ours_put.append(time.perf_counter() - start)
            start = time.perf_counter()
            store.get_object(stored)
            ours_get.append(time.perf_counter() - start)
            store.blobs.delete(f"blobs/sha256/{stored.digest[:2]}/{stored.digest[2:]}")

        data = rng.random(n).data
        start = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        sha = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = args.mb * (1 << 20) / 1e6

    def show(label: str, times: list[float]) -> float:
        med = statistics.median(times)
        print(
            f"{label:<34} median {med * 1000:7.1f} ms  {mb / med:7.0f} MB/s  (runs: "
            + ", ".join(f"{t * 1000:.0f}" for t in times)
            + ")"
        )
        return med

    print(f"{args.mb} MiB float64 array, {args.repeat} runs, disk at {args.dir or tempfile.gettempdir()}")
    print(f"{'sha256 alone (hashlib)':<34} {sha * 1000:14.1f} ms  {mb / sha:7.0f} MB/s")
    bp = show("np.save + fsync", base_put)
    op = show("ArtifactStore.put_object", ours_put)
    bg = show("np.load", base_get)
    og = show("ArtifactStore.get_object (verified)", ours_get)
    print(f"put throughput ratio ours/np.save: {bp / op:.2f}  (target >= 0.70)")
    print(f"get throughput ratio ours/np.load: {bg / og:.2f}")


if __name__ == "__main__":
    main()
