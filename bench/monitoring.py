"""Drift over 20 numeric features: shipyard vs Evidently's DataDriftPreset, same Parquet data.

    .venv/bin/python bench/monitoring.py [--rows 1000000] [--also 100000] [--skip-peer]

The data (20 float64 features; 6 of them shifted in the current frame) is generated once,
deterministically, and written to Parquet under ``bench/results/monitoring-data/``. Each side runs
in its own subprocess and **includes reading the Parquet files** in its time; peak memory is that
subprocess's own peak RSS (``VmHWM`` of ``/proc/self/status`` at its end: unlike ``ru_maxrss``, which
Linux carries over ``fork``/``exec`` from the parent, so a bench process holding the generated data
would inflate both sides).

shipyard: stream both files in 256k-row batches -> reference profile (fixed-grid sketches) ->
current sketches on the reference grid -> per-feature test (Wasserstein normed, like Evidently's
default for > 1000 rows). Evidently 0.7 runs in its own venv ``bench/.venv-evidently``
(``pip install 'evidently==0.7.*' 'pandas<3' pyarrow``): ``pd.read_parquet`` both, then
``Report([DataDriftPreset()]).run(current, reference)``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "results" / "monitoring-data"
PEER_PY = ROOT / ".venv-evidently" / "bin" / "python"
FEATURES = 20

OURS = r"""
import json, sys, time
def peak_kib():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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
def exact_values(name):  # the second pass, only for a column whose error bound straddles its threshold
    import pyarrow.parquet as pq
    return tuple(pq.read_table(p, columns=[name]).column(0).to_numpy() for p in (ref_path, cur_path))
import inspect
second_pass = "exact_values" in inspect.signature(drift_report).parameters  # (older shipyard: none)
report = drift_report(reference, current, **({"exact_values": exact_values} if second_pass else {}))
total = time.perf_counter() - t0
peak = peak_kib()
t1 = time.perf_counter()  # the same reads again, without the statistics: the read share of `total`
for path in (ref_path, cur_path):
    for name, chunks in column_chunks(path):
        for values in chunks:
            pass
read = time.perf_counter() - t1
second = sorted(f.feature for f in drift_report(reference, current).features if not getattr(f, "exact", True))
print(json.dumps({"seconds": total, "read": read, "peak_kib": peak, "drifted": sorted(report.drifted),
                  "second_pass": second}))
"""

PEER = r"""
import json, sys, time, warnings
def peak_kib():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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
    config = metric.get("config", {})
    if "column" in config and "threshold" in config:  # a ValueDrift; these data take Wasserstein (>=)
        if float(metric["value"]) >= float(config["threshold"]):
            drifted.append(config["column"])
peak = peak_kib()
out = {"seconds": time.perf_counter() - t0, "read": read, "peak_kib": peak, "drifted": sorted(drifted)}
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
        "detail": json.dumps(out.get("drifted", ""))[:300],
        "second_pass": json.dumps(out.get("second_pass", [])),
    }


# --- verdict agreement with Evidently over a corpus of column shapes -------------------------------

AGREE = ROOT / "results" / "monitoring-agreement"
EVIDENTLY_METHODS = {
    "K-S p_value": "ks",
    "Z-test p_value": "z",
    "chi-square p_value": "chisquare",
    "Jensen-Shannon distance": "jensenshannon",
    "Wasserstein distance (normed)": "wasserstein",
    "PSI": "psi",
}

PEER_AGREEMENT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
out = {}
for stem in sys.argv[1:]:
    reference, current = pd.read_parquet(stem + "-ref.parquet"), pd.read_parquet(stem + "-cur.parquet")
    report = Report([DataDriftPreset()], include_tests=True)
    result = report.run(current_data=current, reference_data=reference).dict()
    metrics = [m for m in result["metrics"] if "column" in m.get("config", {})]
    scores = {m["config"]["column"]: float(m["value"]) for m in metrics}
    columns = {}
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        if "column" in params:
            column = params["column"]
            columns[column] = [params["method"], str(test["status"]).endswith("FAIL"), scores.get(column)]
    out[stem] = columns
print(json.dumps(out))
"""


def _corpus() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(shape, reference columns, current columns): frames of 10-16 columns whose shifts spread
    across each test's threshold, so both verdicts and the borderline cases occur."""
    import numpy as np

    rng = np.random.default_rng(20261207)
    frames: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def frame(shape: str, n: int, m: int, make: Any, k: int = 14) -> None:
        ref, cur = {}, {}
        for j in range(k):
            ref[f"c{j:02d}"], cur[f"c{j:02d}"] = make(n, m, j / (k - 1))
        frames.append((shape, ref, cur))

    def binary(n: int, m: int, t: float) -> tuple[Any, Any]:
        se = np.sqrt(0.3 * 0.7 * (1 / n + 1 / m))
        return rng.binomial(1, 0.3, n), rng.binomial(1, 0.3 + 3 * se * t, m)

    def few_ints(levels: int) -> Any:
        def make(n: int, m: int, t: float) -> tuple[Any, Any]:
            p = np.ones(levels) / levels
            q = p + (np.arange(levels) - (levels - 1) / 2) * 0.03 * t
            return rng.choice(levels, n, p=p), rng.choice(levels, m, p=q / q.sum())

        return make

    def few_floats(n: int, m: int, t: float) -> tuple[Any, Any]:
        a, b = few_ints(3)(n, m, t)
        return a.astype(np.float64) * 0.5, b.astype(np.float64) * 0.5

    def normal(scale: float) -> Any:
        def make(n: int, m: int, t: float) -> tuple[Any, Any]:
            return rng.normal(0, 1, n), rng.normal(scale * t, 1, m)

        return make

    def with_missing(n: int, m: int, t: float) -> tuple[Any, Any]:
        a, b = normal(0.25)(n, m, t)
        a[rng.random(n) < 0.1 + 0.3 * t] = np.nan
        b[rng.random(m) < 0.2] = np.nan
        return a, b

    def int_missing(n: int, m: int, t: float) -> tuple[Any, Any]:
        a, b = (
            rng.integers(0, 50, n).astype(np.float64),
            rng.integers(0, 50 + int(10 * t), m).astype(np.float64),
        )
        a[rng.random(n) < 0.25] = np.nan
        return a, b

    def lognormal(n: int, m: int, t: float) -> tuple[Any, Any]:
        return rng.lognormal(0, 1.5, n), rng.lognormal(0.25 * t, 1.5 + 0.1 * t, m)

    def strings(levels: int) -> Any:
        def make(n: int, m: int, t: float) -> tuple[Any, Any]:
            a, b = few_ints(levels)(n, m, t)
            names = np.array([f"cat{i}" for i in range(levels)], dtype=object)
            return names[a], names[b]

        return make

    for n in (500, 1200, 100_000):
        frame("int 0/1", n, n, binary)
    for n in (600, 5000):
        frame("ints, 4 values", n, n, few_ints(4))
        frame("ints, 8 values", n, n, few_ints(8))
        frame("floats, 3 values", n, n, few_floats)
    for n in (1150, 1400, 20_000):
        frame("missing values", n, n, with_missing)
    frame("missing values", 1300, 1300, int_missing)
    for n in (800, 20_000, 100_000):
        frame("heavy tails (lognormal)", n, n, lognormal)
    frame("borderline shifts", 200, 200, normal(0.3), k=40)
    frame("borderline shifts", 1000, 1000, normal(0.15))
    frame("borderline shifts", 1000, 3000, normal(0.15))
    frame("borderline shifts", 5000, 5000, normal(0.2))
    frame("borderline shifts", 50_000, 50_000, normal(0.2))
    for n in (700, 4000):
        frame("categorical strings", n, n, strings(2))
        frame("categorical strings", n, n, strings(6))
    for n, m in ((60, 60), (300, 900), (1001, 1001), (20_000, 2_000)):
        frame("small/large n", n, m, normal(0.4))
    return frames


def agreement(peer_timeout: float) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shipyard.monitoring.drift import drift_report
    from shipyard.monitoring.profile import Profile, build_profile

    AGREE.mkdir(parents=True, exist_ok=True)
    frames = _corpus()
    stems = []
    for i, (_, ref, cur) in enumerate(frames):
        stem = AGREE / f"frame{i:02d}"
        pq.write_table(pa.table(ref), f"{stem}-ref.parquet")
        pq.write_table(pa.table(cur), f"{stem}-cur.parquet")
        stems.append(str(stem))
    proc = subprocess.run(
        [str(PEER_PY), "-c", PEER_AGREEMENT, *stems],
        capture_output=True,
        text=True,
        timeout=peer_timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"Evidently failed:\n{proc.stderr[-3000:]}")
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    per_shape: dict[str, list[int]] = {}
    differ = []
    for (shape, _, _), stem in zip(frames, stems, strict=True):
        reference = pd.read_parquet(f"{stem}-ref.parquet")
        current = pd.read_parquet(f"{stem}-cur.parquet")
        profile = build_profile(reference)

        def raw(name: str, reference: pd.DataFrame = reference, current: pd.DataFrame = current) -> Any:
            return reference[name].to_numpy(), current[name].to_numpy()

        second_pass = "exact_values" in inspect.signature(drift_report).parameters  # not before 0.x
        ours = {
            f.feature: f
            for f in (
                drift_report(profile, current, exact_values=raw)
                if second_pass
                else drift_report(profile, current)
            ).features
        }
        sketch_only = {f.feature: f for f in drift_report(profile, current).features}
        # as a deployment's monitor runs: the profile read back from its JSON, no raw data at hand
        stored = {f.feature: f for f in drift_report(Profile.from_json(profile.to_json()), current).features}
        row = per_shape.setdefault(shape, [0, 0, 0, 0, 0, 0])
        for column, (method, drift, score) in theirs[stem].items():
            mine, approx, served = ours[column], sketch_only[column], stored[column]
            want = (EVIDENTLY_METHODS.get(method, method), bool(drift))
            row[0] += 1
            row[1] += (mine.method, mine.drift) == want
            row[2] += (approx.method, approx.drift) == want
            row[3] += not getattr(approx, "exact", True)
            row[4] += bool(drift)
            row[5] += (served.method, served.drift) == want
            if (mine.method, mine.drift) != want:
                differ.append(
                    f"  {shape} {Path(stem).name}/{column}: shipyard {mine.method} {mine.drift} "
                    f"({mine.score:.4g}, p={mine.p_value}), Evidently {want} ({score:.4g})"
                )
    print()
    head = f"{'columns':>8}{'drifting':>9}{'agree':>8}{'share':>9}{'sketch only':>13}"
    head += f"{'stored':>8}{'2nd pass':>10}"
    print(f"{'shape':<26}{head}")
    total = [0, 0, 0, 0, 0, 0]

    def line(name: str, row: list[int]) -> str:
        n, same, same_sketch, second, drifting, same_stored = row
        return (
            f"{name:<26}{n:>8}{drifting:>9}{same:>8}{same / n:>9.1%}{same_sketch / n:>13.1%}"
            f"{same_stored / n:>8.1%}{second:>10}"
        )

    for shape, row in per_shape.items():
        print(line(shape, row))
        total = [a + b for a, b in zip(total, row, strict=True)]
    print(line("overall", total) + f"  (>= 99%: {'PASS' if total[1] / total[0] >= 0.99 else 'FAIL'})")
    print(
        "(drifting: columns Evidently calls drifted; agree: same test and same verdict as Evidently's "
        "DataDriftPreset; sketch only: the verdict from the sketches alone, without the second pass; "
        "stored: from the profile read back from JSON (exact values kept only up to 1000), no second pass, "
        "as a deployment's monitor runs; 2nd pass: columns whose bound straddled the threshold)"
    )
    for line in differ:
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--also", type=int, nargs="*", default=[100_000])
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--peer-timeout", type=float, default=900)
    parser.add_argument("--agreement", choices=["yes", "no", "only"], default="yes", help="the verdict table")
    args = parser.parse_args()
    if args.agreement != "no" and PEER_PY.exists():
        agreement(args.peer_timeout)
    if args.agreement == "only":
        return
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
        print(f"  Evidently {peer['seconds']:.2f} s, {peer['peak_mib']:.0f} MiB; drifted {peer['detail']}")
        print(f"  shipyard's second pass (error bound straddled the threshold): {ours['second_pass']}")
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
