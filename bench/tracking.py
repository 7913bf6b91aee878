"""Tracking benchmark: shipyard vs MLflow, both on SQLite, measured in the same run.

    .venv/bin/python bench/tracking.py [--quick]

MLflow is installed ONLY in ``bench/.venv-mlflow`` (created here when missing) and runs as a
subprocess in a temp dir with ``sqlite:///mlflow.db``. Where MLflow would take minutes we run it on
fewer items and say so in the table (rates are per second either way; the run-creation time is
scaled). shipyard's figures include the final flush: buffered metrics count only once written.
Results are also written to ``bench/results/tracking.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_VENV = ROOT / "bench" / ".venv-mlflow"
RESULTS = ROOT / "bench" / "results" / "tracking.json"


# ---- MLflow, in its own venv ------------------------------------------------------------------------
def mlflow_python() -> Path:
    python = MLFLOW_VENV / "bin" / "python"
    if python.exists():
        check = subprocess.run([python, "-c", "import mlflow"], capture_output=True, check=False)
        if check.returncode == 0:
            return python
    print("creating bench/.venv-mlflow (a couple of minutes)...", file=sys.stderr)
    subprocess.run(["python3", "-m", "venv", str(MLFLOW_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    if subprocess.run([*pip, "mlflow==3.17.*"], check=False).returncode != 0:
        subprocess.run([*pip, "mlflow"], check=True)  # nearest available
    return python


MLFLOW_SCRIPT = """
import json, sys, time, logging
logging.disable(logging.WARNING)
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

N_LOG, N_BATCH, N_RUNS, N_SEARCH = (int(x) for x in sys.argv[1:5])
ONLY_LOG = sys.argv[5] == "log"
mlflow.set_tracking_uri("sqlite:///mlflow.db")
exp = mlflow.set_experiment("bench")
client = MlflowClient()
out = {"version": mlflow.__version__}

with mlflow.start_run():  # warm-up: schema, connections
    mlflow.log_metric("warm", 1.0)

with mlflow.start_run():
    t = time.perf_counter()
    for i in range(N_LOG):
        mlflow.log_metric("loss", 0.5, step=i)
    out["log_metric_calls_s"] = N_LOG / (time.perf_counter() - t)
if ONLY_LOG:
    print(json.dumps(out))
    sys.exit(0)

with mlflow.start_run() as run:
    now = int(time.time() * 1000)
    t = time.perf_counter()
    for b in range(N_BATCH // 1000):
        client.log_batch(run.info.run_id, metrics=[Metric(f"m{k}", 0.5, now, b) for k in range(1000)])
    out["log_batch_metrics_s"] = N_BATCH / (time.perf_counter() - t)

t = time.perf_counter()
for r in range(N_RUNS):
    with mlflow.start_run():
        mlflow.log_params({f"p{k}": k for k in range(5)})
        mlflow.log_metrics({f"m{k}": r / N_RUNS for k in range(4)} | {"acc": (r % 100) / 100})
out["create_runs_s"] = time.perf_counter() - t
out["create_runs_n"] = N_RUNS

for r in range(N_SEARCH - N_RUNS):  # fill up to N_SEARCH runs, untimed
    run = client.create_run(exp.experiment_id)
    client.log_batch(run.info.run_id, metrics=[Metric("acc", (r % 100) / 100, 0, 0)])
    client.set_terminated(run.info.run_id)
times = []
for _ in range(5):
    t = time.perf_counter()
    found = client.search_runs([exp.experiment_id], "metrics.acc > 0.5", max_results=100)
    times.append(time.perf_counter() - t)
times.sort()
out["search_found"] = len(found)
out["search_ms"] = times[2] * 1000
out["search_n"] = N_SEARCH
print(json.dumps(out))
"""


def run_mlflow(python: Path, sizes: dict[str, int], only_log: bool = False) -> dict[str, Any]:
    args = [str(sizes[k]) for k in ("log", "batch", "runs", "search")] + ["log" if only_log else "all"]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [python, "-c", MLFLOW_SCRIPT, *args],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"the MLflow half failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ---- shipyard, in this interpreter ----------------------------------------------------------------------
def run_shipyard(sizes: dict[str, int]) -> dict[str, Any]:
    import shipyard
    from shipyard.core.entities import Metric, RunStatus
    from shipyard.core.settings import load_settings
    from shipyard.tracking import fluent
    from shipyard.tracking.client import TrackingClient
    from shipyard.tracking.stores import open_stores

    out: dict[str, Any] = {"version": shipyard.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        stores = open_stores(load_settings(home=Path(tmp), user="bench"))
        fluent.set_stores(stores)
        with shipyard.start_run("warm"):
            shipyard.log_metric("warm", 1.0)

        n = sizes["batch"]
        with shipyard.start_run("log_metrics"):
            t = time.perf_counter()
            for b in range(n // 1000):
                shipyard.log_metrics({f"m{k}": 0.5 for k in range(1000)}, step=b)
            shipyard.flush()
            out["log_batch_metrics_s"] = n / (time.perf_counter() - t)

        n = sizes["our_runs"]
        t = time.perf_counter()
        for r in range(n):
            with shipyard.start_run(params={f"p{k}": k for k in range(5)}):
                shipyard.log_metrics({f"m{k}": r / n for k in range(4)} | {"acc": (r % 100) / 100})
        out["create_runs_s"] = time.perf_counter() - t
        out["create_runs_n"] = n

        client = TrackingClient(stores)  # fill up to our_search runs, untimed
        for r in range(sizes["our_search"] - n):
            run = client.create_run()
            stores.metadata.log_metrics(run.id, [Metric("acc", (r % 100) / 100, 0, 0)])
            stores.metadata.finish_run(run.id, RunStatus.SUCCEEDED, run.start_time)
        shipyard.namespace(None)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            found = shipyard.search_runs(filter="metrics.acc > 0.5", max_results=100)
            times.append(time.perf_counter() - t)
        times.sort()
        out["search_found"] = len(found)
        out["search_ms"] = times[2] * 1000
        out["search_n"] = sizes["our_search"]
        fluent.reset()
        stores.close()
    return out


def our_log_metric(n: int) -> float:
    """calls/s of a ``log_metric`` loop on a fresh store, the final flush included."""
    import shipyard
    from shipyard.core.settings import load_settings
    from shipyard.tracking import fluent
    from shipyard.tracking.stores import open_stores

    with tempfile.TemporaryDirectory() as tmp:
        stores = open_stores(load_settings(home=Path(tmp), user="bench"))
        fluent.set_stores(stores)
        with shipyard.start_run("log_metric"):
            log_metric = shipyard.log_metric
            t = time.perf_counter()
            for i in range(n):
                log_metric("loss", 0.5, step=i)
            shipyard.flush()  # honest: the points are in the database when the clock stops
            rate = n / (time.perf_counter() - t)
        fluent.reset()
        stores.close()
    return rate


def import_ms(python: Path | str, module: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(proc.stdout.strip()) * 1000)
    return statistics.median(times)


# ---- report -----------------------------------------------------------------------------------------------
def report(ours: dict[str, Any], theirs: dict[str, Any], sizes: dict[str, int]) -> list[dict[str, Any]]:
    """Rows of the table; ``ratio`` is how many times better shipyard is."""
    scale = 1000 / theirs["create_runs_n"]
    specs = [
        (
            f"log_metric loop, median of 3 alternating (ours {sizes['our_log']:,} calls, "
            f"MLflow {sizes['log']:,})",
            "log_metric_calls_s", "calls/s", True, ">= 1000x",
        ),
        (
            f"batch API, {sizes['batch']:,} metrics in 1,000s (log_metrics / log_batch)",
            "log_batch_metrics_s", "metrics/s", True, "-",
        ),
        (
            f"create 1,000 runs, 5 params + 5 metrics (MLflow: {theirs['create_runs_n']} runs x {scale:g})",
            "create_1000_runs_s", "s", False, "-",
        ),
        (
            f"search_runs metrics.acc > 0.5, max 100 (ours over {ours['search_n']:,} runs, "
            f"MLflow over {theirs['search_n']:,})",
            "search_ms", "ms", False, "ours < 100 ms",
        ),
        ("import (fresh process, median of 5)", "import_ms", "ms", False, "ours < 150 ms"),
    ]  # fmt: skip
    for side in (ours, theirs):
        side["create_1000_runs_s"] = side["create_runs_s"] * 1000 / side["create_runs_n"]
    rows: list[dict[str, Any]] = []
    for what, key, unit, higher_better, target in specs:
        o, m = ours[key], theirs[key]
        ratio = o / m if higher_better else m / o
        verdict: bool | None = None
        if key == "log_metric_calls_s":
            verdict = ratio >= 1000
        elif key == "search_ms":
            verdict = o < 100
        elif key == "import_ms":
            verdict = o < 150
        rows.append(
            {
                "what": what,
                "ours": o,
                "mlflow": m,
                "unit": unit,
                "ratio": ratio,
                "target": target,
                "pass": verdict,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]], ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    print(f"\nshipyard {ours['version']} vs MLflow {theirs['version']}, SQLite, same machine, same run")
    header = f"{'what':<92} {'shipyard':>12} {'MLflow':>12} {'unit':>9} {'ratio':>10}  {'target':<14} result"
    print(header)
    print("-" * len(header))
    for r in rows:
        verdict = "-" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        print(
            f"{r['what']:<92} {r['ours']:>12,.1f} {r['mlflow']:>12,.1f} {r['unit']:>9} "
            f"{r['ratio']:>9,.1f}x  {r['target']:<14} {verdict}"
        )
    print("ratio: how many times better shipyard is (throughput ours/MLflow; times MLflow/ours)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    quick = parser.parse_args().quick
    sizes = {
        "our_log": 10_000 if quick else 100_000,
        "log": 200 if quick else 1_000,
        "batch": 10_000,
        "our_runs": 100 if quick else 1_000,
        "runs": 20 if quick else 100,
        "our_search": 1_000 if quick else 10_000,
        "search": 200 if quick else 1_000,
    }
    python = mlflow_python()
    # the machine's load drifts: the log_metric loops of both alternate, 3 times, medians compared
    ours_log: list[float] = []
    theirs_log: list[float] = []
    for rep in range(3):
        print(f"log_metric loops, round {rep + 1} of 3...", file=sys.stderr)
        theirs_log.append(run_mlflow(python, sizes, only_log=True)["log_metric_calls_s"])
        ours_log.append(our_log_metric(sizes["our_log"]))
    print("running the rest of the MLflow half...", file=sys.stderr)
    theirs = run_mlflow(python, dict(sizes, log=10))  # its log_metric loop was measured above
    theirs["import_ms"] = import_ms(python, "mlflow")
    print("running the rest of the shipyard half...", file=sys.stderr)
    ours = run_shipyard(sizes)
    ours["import_ms"] = import_ms(sys.executable, "shipyard")
    theirs["log_metric_calls_s"], theirs["log_metric_rounds"] = statistics.median(theirs_log), theirs_log
    ours["log_metric_calls_s"], ours["log_metric_rounds"] = statistics.median(ours_log), ours_log
    rows = report(ours, theirs, sizes)
    print_table(rows, ours, theirs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"shipyard": ours, "mlflow": theirs, "sizes": sizes, "rows": rows,
                                   "cpus": os.cpu_count()}, indent=2))  # fmt: skip
    if any(r["pass"] is False for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
