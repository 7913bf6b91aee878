"""Drift over 20 numeric features: shipyard vs Evidently's DataDriftPreset, same Parquet data.

    .venv/bin/python bench/monitoring.py [--rows 1000000] [--also 100000] [--skip-peer]

The data (20 float64 features; 6 of them shifted in the current frame) is generated once,
deterministically, and written to Parquet under ``bench/results/monitoring-data/``. Each side runs
in its own subprocess and **includes reading the Parquet files** in its time; peak memory is that
subprocess's own peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at its end).

shipyard: stream both files in 256k-row batches -> reference profile (fixed-grid sketches) ->
current sketches on the reference grid -> per-feature test (Wasserstein normed, like Evidently's
default for > 1000 rows). Evidently 0.7 runs in its own venv ``bench/.venv-evidently``
(``pip install 'evidently==0.7.*' 'pandas<3' pyarrow``): ``pd.read_parquet`` both, then
``Report([DataDriftPreset()]).run(current, reference)``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "results" / "monitoring-data"
PEER_PY = ROOT / ".venv-evidently" / "bin" / "python"
FEATURES = 20

OURS = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from shipyard.monitoring.profile import build_profile, column_chunks
from shipyard.monitoring.drift import drift_report
ref_path, cur_path = sys.argv[1], sys.argv[2]
reference = build_profile(ref_path)  # the reference profile, as registration stores it
current = {}
for name, chunks in column_chunks(cur_path):  # the current window, sketched on the reference grid
    sketch = reference.features[name].like()
    for values in chunks:
        sketch.add(values)
    current[name] = sketch
report = drift_report(reference, current)
total = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t1 = time.perf_counter()  # the same reads again, without the statistics: the read share of `total`
for path in (ref_path, cur_path):
    for name, chunks in column_chunks(path):
        for values in chunks:
            pass
read = time.perf_counter() - t1
print(json.dumps({"seconds": total, "read": read, "peak_kib": peak, "drifted": sorted(report.drifted)}))
"""

PEER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
t_read = time.perf_counter()
reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
read = time.perf_counter() - t_read  # the Parquet reads only (imports stay in both sides' totals)
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
result = snapshot.dict()
drifted = []
for metric in result["metrics"]:
    mid = str(metric.get("metric_id", ""))
    if "ValueDrift" in mid:
        value = metric.get("value")
        col = mid.split("column=")[-1].split(")")[0].split(",")[0]
        drifted.append((col, value))
import resource
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {"seconds": time.perf_counter() - t0, "read": read, "peak_kib": peak, "values": drifted[:40]}
print(json.dumps(out))
"""


def make_data(rows: int) -> tuple[Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    DATA.mkdir(parents=True, exist_ok=True)
    ref_path, cur_path = DATA / f"reference-{rows}.parquet", DATA / f"current-{rows}.parquet"
    if ref_path.exists() and cur_path.exists():
        return ref_path, cur_path
    rng = np.random.default_rng(20261122)
    names = [f"f{i:02d}" for i in range(FEATURES)]
    ref = {n: rng.normal(i % 5, 1 + i % 3, rows) for i, n in enumerate(names)}
    cur = {}
    for i, n in enumerate(names):
        shift = 0.5 if i % 4 == 0 else (0.05 if i % 7 == 0 else 0.0)  # 5 clear shifts, a few small ones
        cur[n] = rng.normal(i % 5 + shift * (1 + i % 3), 1 + i % 3, rows)
    pq.write_table(pa.table(ref), ref_path)
    pq.write_table(pa.table(cur), cur_path)
    return ref_path, cur_path


def measure(python: str, code: str, ref: Path, cur: Path, timeout: float) -> dict[str, float | str]:
    started = time.perf_counter()
    proc = subprocess.run(
        [python, "-c", code, str(ref), str(cur)], capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "seconds": float(out["seconds"]),
        "read": float(out["read"]),
        "wall": wall,
        "peak_mib": float(out["peak_kib"]) / 1024,
        "detail": json.dumps(out.get("drifted", out.get("values", "")))[:300],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--also", type=int, nargs="*", default=[100_000])
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--peer-timeout", type=float, default=900)
    args = parser.parse_args()
    table = []
    for rows in [*args.also, args.rows]:
        ref, cur = make_data(rows)
        ours = measure(sys.executable, OURS, ref, cur, 600)
        print(
            f"[{rows:,} x {rows:,}] shipyard {ours['seconds']:.2f} s, {ours['peak_mib']:.0f} MiB; "
            f"drifted {ours['detail']}"
        )
        if args.skip_peer or not PEER_PY.exists():
            print(
                "  Evidently skipped (no bench/.venv-evidently)"
                if not args.skip_peer
                else "  Evidently skipped"
            )
            continue
        try:
            peer = measure(str(PEER_PY), PEER, ref, cur, args.peer_timeout)
        except subprocess.TimeoutExpired:
            print(f"  Evidently did not finish within {args.peer_timeout:.0f} s")
            continue
        print(f"  Evidently {peer['seconds']:.2f} s, {peer['peak_mib']:.0f} MiB")
        table.append((rows, ours, peer))
    if not table:
        return
    print()
    print(f"{'case':<22}{'metric':<14}{'shipyard':>12}{'Evidently':>12}{'ratio':>10}{'target':>10}  verdict")
    for rows, ours, peer in table:
        case = f"{rows // 1000}k x {rows // 1000}k"
        rows_out = [
            ("seconds", ours["seconds"], peer["seconds"]),
            ("s, no read", ours["seconds"] - ours["read"], peer["seconds"] - peer["read"]),
        ]
        for metric, mine, theirs in rows_out:
            speed = float(theirs) / max(float(mine), 1e-9)
            print(
                f"{case:<22}{metric:<14}{mine:>12.2f}{theirs:>12.2f}{speed:>9.1f}x{'>=50x':>10}  "
                f"{'PASS' if speed >= 50 else 'FAIL'}"
            )
        mem = float(ours["peak_mib"]) / float(peer["peak_mib"])
        print(
            f"{case:<22}{'peak MiB':<14}{ours['peak_mib']:>12.0f}{peer['peak_mib']:>12.0f}{mem:>10.2f}"
            f"{'<=0.33':>10}  {'PASS' if mem <= 1 / 3 else 'FAIL'}"
        )
    print(
        "(seconds: import + read Parquet + statistics, both sides; 's, no read' subtracts each side's "
        "measured Parquet read time; peak = the subprocess's own max RSS)"
    )


if __name__ == "__main__":
    main()
