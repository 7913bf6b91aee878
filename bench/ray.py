"""Ray executor benchmark: fan-outs on a local Ray cluster vs the local executor, same run.

    .venv/bin/python bench/ray.py [--trivial 1000] [--sleepy 40] [--quick]

Two fan-outs of one flow step: ``--trivial`` tasks that return at once (the cost of a task is all
overhead: scheduling, the entry point's store reads/writes, the output artifact) and ``--sleepy``
tasks of 1 second each (fewer: 1,000 of them on 2 cores would take ~8 minutes per row). Each runs
on the local executor (2 workers) and on a real Ray cluster on loopback with 1 node, then 2 nodes,
of 1 CPU each (``tests/ray/cluster.py``). Metadata is SQLite and artifacts a local folder, in a
temp home; every row is one warm run (a first, untimed run connects and starts the workers; that
cold start is reported separately).

Honest caveat: this machine has 2 cores shared with other work, and the Ray nodes are processes on
it; "2 nodes" means 2 one-CPU raylets on the same 2 cores, so it shows how the executor scales with
slots and what Ray's overhead is, not a real cluster's network. Results also go to
``bench/results/ray.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# this file is bench/ray.py: keep its folder off sys.path so `import ray` finds Ray, not this file
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "ray.json"

FLOW = """
import time
from shipyard import flow, step

@step
def items(n: int) -> list[int]:
    return list(range(n))

@step
def work(x: int, seconds: float) -> int:
    if seconds:
        time.sleep(seconds)
    return x

@step
def count(xs: list[int]) -> int:
    return len(xs)

@flow
def fan(n: int = 10, seconds: float = 0.0):
    return count(work.map(items(n), seconds=seconds))
"""


def timed_run(flow_file: Path, n: int, seconds: float, executor: str, address: str | None) -> float:
    from shipyard.core.settings import load_settings
    from shipyard.runtime.api import RunOptions, run_file

    options = RunOptions(executor=executor, executor_options={"address": address} if address else {})
    if executor == "local":
        options.max_workers = 2
    started = time.perf_counter()
    run = run_file(flow_file, {"n": n, "seconds": seconds}, load_settings(), options)
    wall = time.perf_counter() - started
    if run.status.value != "succeeded" or run.output != n:
        raise SystemExit(f"{executor} run failed: {run.error}")
    return wall


def row(name: str, slots: int, n: int, seconds: float, wall: float) -> dict[str, Any]:
    """Throughput, and per-task overhead in slot-seconds beyond the task's own sleep."""
    per_task = wall * slots / n - seconds
    return {
        "setup": name,
        "slots": slots,
        "tasks": n,
        "task_s": seconds,
        "wall_s": round(wall, 2),
        "tasks_per_s": round(n / wall, 1),
        "overhead_ms_per_task": round(per_task * 1000, 1),
    }


def bench(flow_file: Path, trivial: int, sleepy: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    from tests.ray.cluster import LocalRayCluster

    rows: list[dict[str, Any]] = []
    cold: dict[str, float] = {}
    cold["local"] = timed_run(flow_file, 2, 0.0, "local", None)
    rows.append(row("local executor", 2, trivial, 0.0, timed_run(flow_file, trivial, 0.0, "local", None)))
    rows.append(row("local executor", 2, sleepy, 1.0, timed_run(flow_file, sleepy, 1.0, "local", None)))
    cluster = LocalRayCluster()
    try:
        t = time.perf_counter()
        cluster.start()
        cold["ray cluster start (head)"] = time.perf_counter() - t
        cold["ray 1 node (connect + workers)"] = timed_run(flow_file, 2, 0.0, "ray", cluster.address)
        rows.append(
            row("ray, 1 node", 1, trivial, 0.0, timed_run(flow_file, trivial, 0.0, "ray", cluster.address))
        )
        rows.append(
            row("ray, 1 node", 1, sleepy, 1.0, timed_run(flow_file, sleepy, 1.0, "ray", cluster.address))
        )
        t = time.perf_counter()
        cluster.add_node()
        cold["ray cluster start (2nd node)"] = time.perf_counter() - t
        import ray

        ray.shutdown()  # reconnect so the executor sees 2 CPUs
        cold["ray 2 nodes (connect + workers)"] = timed_run(flow_file, 4, 0.0, "ray", cluster.address)
        rows.append(
            row("ray, 2 nodes", 2, trivial, 0.0, timed_run(flow_file, trivial, 0.0, "ray", cluster.address))
        )
        rows.append(
            row("ray, 2 nodes", 2, sleepy, 1.0, timed_run(flow_file, sleepy, 1.0, "ray", cluster.address))
        )
        ray.shutdown()
    finally:
        cluster.stop()
    return rows, cold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trivial", type=int, default=1000, help="trivial tasks per fan-out")
    parser.add_argument("--sleepy", type=int, default=40, help="1-second tasks per fan-out")
    parser.add_argument("--quick", action="store_true", help="200 trivial, 8 one-second tasks")
    args = parser.parse_args()
    trivial, sleepy = (200, 8) if args.quick else (args.trivial, args.sleepy)

    with tempfile.TemporaryDirectory(prefix="sy-bench-ray-") as tmp:
        os.environ["SHIPYARD_HOME"] = str(Path(tmp) / "home")
        os.environ.pop("SHIPYARD_URI", None)
        os.environ.pop("SHIPYARD_ARTIFACTS", None)
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        flow_file = Path(tmp) / "fan.py"
        flow_file.write_text(FLOW)
        rows, cold = bench(flow_file, trivial, sleepy)

    header = ("setup", "slots", "tasks", "task_s", "wall_s", "tasks_per_s", "overhead_ms_per_task")
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[h]).ljust(w) for h, w in zip(header, widths, strict=True)))
    base = {r["task_s"]: r for r in rows if r["setup"] == "local executor"}
    print()
    for r in rows:
        if r["setup"] != "local executor":
            ratio = r["tasks_per_s"] / base[r["task_s"]]["tasks_per_s"]
            what = f"{r['setup']:<13} {r['tasks']:>5} x {r['task_s']:g}s tasks"
            print(f"{what}: {ratio:.2f}x the local executor's rate")
    one = {r["task_s"]: r for r in rows if r["setup"] == "ray, 1 node"}
    for r in rows:
        if r["setup"] == "ray, 2 nodes":
            gain = r["tasks_per_s"] / one[r["task_s"]]["tasks_per_s"]
            print(f"ray 1 -> 2 nodes, {r['task_s']:g}s tasks: {gain:.2f}x the rate")
    print("\ncold starts (s): " + ", ".join(f"{k} {v:.1f}" for k, v in cold.items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": rows, "cold_s": cold, "machine_cores": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
