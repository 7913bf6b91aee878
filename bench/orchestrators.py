"""Orchestration benchmarks: step-environment overheads here (one row per measurement, add rows
to ROWS), then the exporters' own benchmarks (``--part``): ``bench/orchestrators_export.py``
(Argo export time and spec size at 10, 1,000 and 10,000-way fan-outs: flat, under 100 KB) and
``bench/orchestrators_airflow.py`` (Airflow DagBag import time of the exported DAG against a
hand-written equivalent, in the cached real-Airflow venv of the tests).

    PYTHONPATH=src .venv/bin/python bench/orchestrators.py [--part env|argo|airflow|all]
        [--tasks 20] [--repeat 3]

Rows today:

- ``step_env_per_task``: a fan-out of ``--tasks`` trivial tasks (2 local workers) whose step has
  its own environment (``@step(pip=["six==1.16.0"])``, already resolved and installed: the cached
  case), against the same fan-out of a step without one, in the same process and store; the
  difference divided by the number of tasks. Target < 0.5 s per task.
- ``step_env_first_task``: the same for a one-task flow: what the first task of an environment
  costs a worker (its child process starts: an interpreter, shipyard's imports, the stores);
  shown, no target (about 1 s of CPU; its wall time follows the machine's load).
- ``step_env_prepare``: what a run pays before its first task to find its environment cached
  (lock cache read, environment folder found): the run-start time with and without the pin.

Needs uv (``pip install 'shipyard[envs]'``) and PyPI for the first (uncached) resolve. Prints each
row (ours, baseline, delta, target, PASS/FAIL) and writes ``bench/results/orchestrators.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "orchestrators.json"

FLOW = """
from shipyard import flow, step

@step
def items(n: int) -> list[int]:
    return list(range(n))

@step(pip=["six==1.16.0"])
def in_env(x: int) -> int:
    import six  # noqa: F401  (the pinned one)
    return x + 1

@step
def in_process(x: int) -> int:
    return x + 1

@flow
def many(n: int = 20, env: bool = True):
    xs = items(n)
    return in_env.map(xs) if env else in_process.map(xs)
"""


@dataclass
class Row:
    name: str
    ours: float  # seconds
    baseline: float
    per: int  # divide the difference by this many tasks
    target: float | None  # the per-task (or per-run) difference must stay under this; None: shown only

    @property
    def delta(self) -> float:
        return (self.ours - self.baseline) / self.per

    @property
    def ok(self) -> bool:
        return self.target is None or self.delta < self.target


def _median(fn: Callable[[], float], repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def step_env_rows(tasks: int, repeat: int) -> list[Row]:
    from shipyard.core.settings import load_settings
    from shipyard.runtime.api import RunOptions, run_file
    from shipyard.runtime.envs import prepare

    with tempfile.TemporaryDirectory(prefix="sy-bench-orch-") as tmp:
        folder = Path(tmp)
        flow_file = folder / "many.py"
        flow_file.write_text(FLOW)
        settings = load_settings(home=folder / "home")
        options = RunOptions(max_workers=2)

        def run(n: int, env: bool) -> float:
            started = time.perf_counter()
            result = run_file(flow_file, {"n": n, "env": env}, settings, options)
            elapsed = time.perf_counter() - started
            if result.status.value != "succeeded":
                raise SystemExit(f"bench run failed: {result.error}")
            return elapsed

        first = run(1, True)  # resolves and installs: not measured below
        print(f"first run (resolve + install): {first:.2f}s", file=sys.stderr)
        run(tasks, False)  # warm the store and the imports for both sides
        # alternate the two sides so load on the machine hits both alike
        env_times: list[float] = []
        base_times: list[float] = []
        one_env: list[float] = []
        one_base: list[float] = []
        for _ in range(repeat):
            env_times.append(run(tasks, True))
            base_times.append(run(tasks, False))
            one_env.append(run(1, True))
            one_base.append(run(1, False))

        def prepare_time(env: bool) -> float:
            from shipyard.runtime.loader import load_flow

            loaded = load_flow(flow_file)
            graph = loaded.flow.build({"n": tasks, "env": env})
            started = time.perf_counter()
            prepare.prepare_envs(graph, loaded.flow.env, loaded.path, settings.home)
            return time.perf_counter() - started

        prep_env = _median(lambda: prepare_time(True), repeat)
        prep_base = _median(lambda: prepare_time(False), repeat)
    return [
        Row("step_env_per_task", statistics.median(env_times), statistics.median(base_times), tasks, 0.5),
        Row("step_env_first_task", statistics.median(one_env), statistics.median(one_base), 1, None),
        Row("step_env_prepare", prep_env, prep_base, 1, 0.05),
    ]


ROWS: list[Callable[[argparse.Namespace], list[Row]]] = [
    lambda args: step_env_rows(args.tasks, args.repeat),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--part", choices=("env", "argo", "airflow", "all"), default="all")
    args = parser.parse_args()
    failed = 0
    for part, script in (("argo", "orchestrators_export.py"), ("airflow", "orchestrators_airflow.py")):
        if args.part in (part, "all"):
            print(f"== {script}", flush=True)
            failed |= subprocess.run([sys.executable, str(ROOT / "bench" / script)], check=False).returncode
    if args.part not in ("env", "all"):
        return 1 if failed else 0
    print("== step environments", flush=True)
    rows = [row for make in ROWS for row in make(args)]
    print(f"{'row':24} {'ours s':>9} {'baseline s':>11} {'delta/unit s':>13} {'target':>8}  result")
    out: list[dict[str, Any]] = []
    for row in rows:
        verdict = "info" if row.target is None else ("PASS" if row.ok else "FAIL")
        target = "-" if row.target is None else "<" + format(row.target, "g")
        print(f"{row.name:24} {row.ours:9.3f} {row.baseline:11.3f} {row.delta:13.3f} {target:>8}  {verdict}")
        out.append(
            {
                "name": row.name,
                "ours_s": row.ours,
                "baseline_s": row.baseline,
                "per": row.per,
                "delta_s": row.delta,
                "target_s": row.target,
                "ok": row.ok,
            }
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    return 0 if all(r.ok for r in rows) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
