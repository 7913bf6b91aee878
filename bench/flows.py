"""Flow benchmark: shipyard vs Metaflow, measured in the same run.

    .venv/bin/python bench/flows.py [--repeat 5] [--metaflow-1000] [--skip-metaflow]

Metaflow is installed ONLY in ``bench/.venv-metaflow`` (created here when missing). Both run as
whole processes (start to exit) from a temp dir with their default local stores:

- a trivial 3-step linear flow (``shipyard run`` vs ``python flow.py run``), median of ``--repeat``;
- a 100-way fan-out of trivial tasks with 2 workers (Metaflow: ``foreach``, ``--max-workers 2``);
- a 1,000-way fan-out with 2 workers (Metaflow only with ``--metaflow-1000``: about 3 minutes);
- persisting a 200 MB float64 array returned by a step (fresh random data each run), against
  ``np.save`` + ``fsync`` of a fresh array of the same size in this process (5 of each, alternated,
  each after an ``os.sync()``; medians).

Prints ours, peer, ratio, target and PASS/FAIL; writes ``bench/results/flows.json``.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / ".venv" / "bin" / "python"
SHIPYARD = ROOT / ".venv" / "bin" / "shipyard"
MF_VENV = ROOT / "bench" / ".venv-metaflow"
RESULTS = ROOT / "bench" / "results" / "flows.json"
ARRAY_MB = 200

OURS_THREE = """
from shipyard import flow, step

@step
def first() -> int:
    return 1

@step
def second(x: int) -> int:
    return x + 1

@step
def third(x: int) -> int:
    return x * 2

@flow
def three():
    return third(second(first()))
"""

OURS_FAN = """
from shipyard import flow, step

@step
def items(n: int) -> list[int]:
    return list(range(n))

@step
def square(x: int) -> int:
    return x * x

@step
def total(xs: list[int]) -> int:
    return sum(xs)

@flow
def fan(n: int = 100):
    return total(square.map(items(n)))
"""

OURS_BIG = f"""
import time
import numpy as np
from shipyard import flow, step

@step
def make(seed: int) -> np.ndarray:
    data = np.random.default_rng(seed).random({ARRAY_MB} * 1024 * 1024 // 8)
    print(f"generated_at={{time.time()!r}}", flush=True)
    return data

@flow
def big(seed: int = 0):
    return make(seed)
"""

MF_THREE = """
from metaflow import FlowSpec, step

class ThreeStep(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.middle)

    @step
    def middle(self):
        self.x += 1
        self.next(self.end)

    @step
    def end(self):
        self.x *= 2

if __name__ == "__main__":
    ThreeStep()
"""

MF_FAN = """
from metaflow import FlowSpec, Parameter, step

class Fan(FlowSpec):
    n = Parameter("n", default=100)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.y = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.y for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    Fan()
"""


def metaflow_python() -> Path | None:
    python = MF_VENV / "bin" / "python"
    if not python.exists():
        print("creating bench/.venv-metaflow ...", file=sys.stderr)
        subprocess.run(["python3", "-m", "venv", str(MF_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "metaflow==2.19.*"], check=False)
    ok = subprocess.run([str(python), "-c", "import metaflow"], capture_output=True, check=False)
    return python if ok.returncode == 0 else None


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def median_of(fn: Callable[[], float], repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def ours_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    return env


def mf_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("USERNAME", "bench")
    env["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(work)
    return env


def persist_ours(work: Path, env: dict[str, str], seed: int) -> float:
    """Seconds from the step returning its array to the task being recorded (store + record)."""
    flow_file = work / "big.py"
    out = subprocess.run(
        [str(SHIPYARD), "run", str(flow_file), "-q", "--json", "-p", f"seed={seed}"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    run_id = json.loads(out.stdout)["run_id"]
    probe = (
        "import json,sys\n"
        "from shipyard.core.settings import load_settings\n"
        "from shipyard.runtime.stores import open_run_stores\n"
        "from shipyard.runtime.logs import task_logs\n"
        "s = open_run_stores(load_settings())\n"
        "(entry,) = task_logs(s, sys.argv[1], 'make')\n"
        "gen = float(entry.stdout.decode().split('generated_at=')[1].split()[0])\n"
        "print(json.dumps({'seconds': entry.task.ended_at.timestamp() - gen}))\n"
    )
    res = subprocess.run(
        [str(VENV_PY), "-c", probe, run_id], env=env, capture_output=True, text=True, check=True
    )
    return float(json.loads(res.stdout)["seconds"])


def np_save_fsync(work: Path, seed: int) -> float:
    import numpy as np

    data = np.random.default_rng(seed + 1000).random(ARRAY_MB * 1024 * 1024 // 8)
    path = work / f"plain-{seed}.npy"
    start = time.perf_counter()
    with open(path, "wb") as fh:
        np.save(fh, data)
        fh.flush()
        os.fsync(fh.fileno())
    elapsed = time.perf_counter() - start
    path.unlink()
    return elapsed


def row(
    name: str, ours: float, peer: float | None, target: str, passed: bool, note: str = ""
) -> dict[str, Any]:
    return {"name": name, "ours": ours, "peer": peer, "target": target, "pass": passed, "note": note}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--metaflow-1000", action="store_true", help="also run Metaflow's 1,000-way foreach")
    parser.add_argument("--skip-metaflow", action="store_true")
    args = parser.parse_args()
    mf = None if args.skip_metaflow else metaflow_python()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-flows-") as tmp:
        work = Path(tmp)
        (work / "three.py").write_text(OURS_THREE)
        (work / "fan.py").write_text(OURS_FAN)
        (work / "big.py").write_text(OURS_BIG)
        (work / "mf_three.py").write_text(MF_THREE)
        (work / "mf_fan.py").write_text(MF_FAN)
        env = ours_env(work / "home")
        three = [str(SHIPYARD), "run", "three.py", "-q"]
        timed(three, work, env)  # warm-up: creates the database
        ours3 = median_of(lambda: timed(three, work, env), args.repeat)
        peer3 = None
        if mf is not None:
            mf_cmd = [str(mf), "mf_three.py", "--quiet", "run"]
            timed(mf_cmd, work, mf_env(work))
            peer3 = median_of(lambda: timed(mf_cmd, work, mf_env(work)), args.repeat)
        ok3 = peer3 is not None and peer3 / ours3 >= 5
        rows.append(row("3-step flow, whole process (s)", ours3, peer3, ">= 5x faster", ok3))

        fan = [str(SHIPYARD), "run", "fan.py", "-q", "-w", "2", "-p"]
        ours100 = median_of(lambda: timed([*fan, "n=100"], work, env), max(1, args.repeat // 2))
        peer100 = None
        if mf is not None:
            peer100 = timed(
                [str(mf), "mf_fan.py", "--quiet", "run", "--n", "100", "--max-workers", "2"],
                work,
                mf_env(work),
            )
        rows.append(
            row(
                "100-way fan-out, 2 workers (s)",
                ours100,
                peer100,
                "faster than peer",
                peer100 is not None and ours100 < peer100,
            )
        )

        ours1000 = timed([*fan, "n=1000"], work, env)
        peer1000 = None
        note = "Metaflow skipped (about 3 min); pass --metaflow-1000"
        if mf is not None and args.metaflow_1000:
            peer1000 = timed(
                [str(mf), "mf_fan.py", "--quiet", "run", "--n", "1000", "--max-workers", "2"],
                work,
                mf_env(work),
            )
            note = ""
        rows.append(
            row("1,000-way fan-out, 2 workers (s)", ours1000, peer1000, "< 10 s", ours1000 < 10, note)
        )

        fresh = time.time_ns() % (1 << 31)  # new bytes on every bench run: no dedup of earlier blobs
        persist, plain = [], []
        for i in range(5):  # alternated, each after a sync: the disk's write-back state is the same
            os.sync()
            persist.append(persist_ours(work, env, fresh + i))
            os.sync()
            plain.append(np_save_fsync(work, fresh + i))
        ours_mb_s = ARRAY_MB / statistics.median(persist)
        plain_mb_s = ARRAY_MB / statistics.median(plain)
        rows.append(
            row(
                f"{ARRAY_MB} MB array as step output (MB/s)",
                ours_mb_s,
                plain_mb_s,
                ">= 70% of np.save+fsync",
                ours_mb_s >= 0.7 * plain_mb_s,
                "peer = np.save + fsync",
            )
        )

    print(f"{'benchmark':40} {'ours':>10} {'peer':>10} {'ratio':>8}  {'target':24} result")
    for r in rows:
        peer = f"{r['peer']:.3f}" if r["peer"] is not None else "-"
        if r["peer"] is None:
            ratio = "-"
        elif "MB/s" in r["name"]:
            ratio = f"{r['ours'] / r['peer']:.2f}"
        else:
            ratio = f"{r['peer'] / r['ours']:.1f}x"
        verdict = "PASS" if r["pass"] else "FAIL"
        print(
            f"{r['name']:40} {r['ours']:10.3f} {peer:>10} {ratio:>8}  {r['target']:24} {verdict} {r['note']}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": rows, "cpus": os.cpu_count()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
