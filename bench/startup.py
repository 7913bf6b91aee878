"""Start-up benchmark (issue 20): each figure against its peer in the same run, medians of interleaved runs.

    python bench/startup.py [--repeat 7] [--python PY] [--metaflow PY] [--mlflow PY] [--only NAME,...]

Every figure is a whole fresh process, timed from its start to its exit (or to ``/ready``):

- ``run``: ``shipyard run`` of a trivial 3-step flow vs Metaflow's ``python flow.py run`` of the same
  (target: >= 5x faster);
- ``load``: a fresh process that imports shipyard and loads a registered scikit-learn pipeline
  (``shipyard.load_model("models:/bench_pipe/1")``, then one prediction) vs MLflow's
  ``mlflow.pyfunc.load_model`` of the same pipeline saved by ``mlflow.sklearn`` (target: < 1 s and
  >= 5x faster);
- ``serve``: ``shipyard serve`` of that model until ``/ready`` answers 200 (target: < 2 s);
- ``help`` and ``runs-list``: ``shipyard --help`` and ``shipyard runs list`` of the embedded store
  holding the ``run`` figure's runs (or one run of the flow) (target: < 150 ms).

Ours runs with ``--python`` (default: ``.venv/bin/python``, else this interpreter) and this checkout's
``src`` (or ``--src``: an older checkout's, for a before/after) first on ``PYTHONPATH``, started the
way the ``shipyard`` console script starts (``main()``). Peers run
in their own virtual environments, never the project's: ``--metaflow`` (a Python with
``metaflow==2.19.39``; default ``/tmp/peers/bin/python``) and ``--mlflow`` (a Python with ``mlflow``
and the same scikit-learn; default ``/tmp/mlpeer/bin/python``). A missing peer leaves its ratio
out (the row says so). Byte-code is written (as an installed package has it) and each command is
run once before timing. Writes ``bench/results/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "startup.json"
ENTRY = "import sys; from shipyard.cli.main import main; sys.exit(main())"  # = the console script

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

# a pipeline of common parts (scaler + logistic regression), fit on a fixed small data set
FIT = """
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 4))
y = (X[:, 0] + X[:, 1] > 0).astype("int64")
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
"""

OURS_REGISTER = (
    FIT
    + """
import pandas as pd
import shipyard
frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
with shipyard.start_run(name="bench-startup"):
    shipyard.log_model(model.fit(frame, y), "bench_pipe", input_example=frame.head(3), register=True)
"""
)

OURS_LOAD = """
import shipyard
model = shipyard.load_model("models:/bench_pipe/1")
print(model.predict([{"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}]))
"""

MLFLOW_SAVE = (
    FIT
    + """
import sys
import mlflow.sklearn
mlflow.sklearn.save_model(model, sys.argv[1])
"""
)

MLFLOW_LOAD = """
import sys
import numpy as np
import mlflow.pyfunc
model = mlflow.pyfunc.load_model(sys.argv[1])
print(model.predict(np.array([[0.1, 0.2, 0.3, 0.4]])))
"""


CPU: dict[str, list[float]] = {}  # command label -> CPU seconds (user+sys) of each timed run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path, env: dict[str, str], label: str = "") -> float:
    """Wall seconds of ``cmd``; its CPU seconds (with the children it waited for) go to ``CPU``."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    if label:
        CPU.setdefault(label, []).append(_children_cpu() - cpu)
    return elapsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_to_ready(cmd: list[str], cwd: Path, env: dict[str, str], port: int, limit_s: float = 300) -> float:
    """Seconds from starting ``cmd`` to its ``/ready`` answering 200; the process is then stopped."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{err[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - start
            except OSError:
                pass
            if time.perf_counter() - start > limit_s:
                raise RuntimeError(f"{' '.join(cmd)}: /ready not 200 after {limit_s} s")
            time.sleep(0.01)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ours_python(given: str | None) -> str:
    if given:
        return given
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def peer_python(path: str, module: str) -> str | None:
    if not Path(path).exists():
        return None
    ok = subprocess.run([path, "-c", f"import {module}"], capture_output=True, check=False)
    return path if ok.returncode == 0 else None


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PYTHON", "MLFLOW_"))}
    env["SHIPYARD_HOME"] = str(home)
    env["USERNAME"] = env.get("USERNAME", "bench")
    return env


def ours_env(home: Path, src: Path) -> dict[str, str]:
    env = clean_env(home)
    env["PYTHONPATH"] = str(src)
    return env


def interleaved(ours: Any, peer: Any | None, repeat: int) -> tuple[list[float], list[float]]:
    """``ours()`` and ``peer()`` alternated ``repeat`` times (order flipped every round)."""
    a: list[float] = []
    b: list[float] = []
    for i in range(repeat):
        if peer is None:
            a.append(ours())
        elif i % 2 == 0:
            a.append(ours())
            b.append(peer())
        else:
            b.append(peer())
            a.append(ours())
    return a, b


def row(
    name: str, ours: list[float], peer: list[float], target: str, passed: bool, note: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "ours": statistics.median(ours),
        "ours_all": ours,
        "peer": statistics.median(peer) if peer else None,
        "peer_all": peer,
        "target": target,
        "pass": passed,
        "note": note,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--python", help="the Python that runs shipyard (default: .venv/bin/python)")
    parser.add_argument("--metaflow", default="/tmp/peers/bin/python")
    parser.add_argument("--mlflow", default="/tmp/mlpeer/bin/python")
    parser.add_argument("--only", default="run,load,serve,help,runs-list")
    parser.add_argument(
        "--src", type=Path, default=ROOT / "src", help="shipyard's sources (another checkout: a baseline)"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    py = ours_python(args.python)
    mf = peer_python(args.metaflow, "metaflow") if "run" in only else None
    ml = peer_python(args.mlflow, "mlflow.pyfunc") if "load" in only else None
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = Path(tmp)
        env = ours_env(work / "home", args.src.resolve())
        shipyard = [py, "-c", ENTRY]
        if "run" in only:
            (work / "three.py").write_text(OURS_THREE)
            (work / "mf_three.py").write_text(MF_THREE)
            ours_cmd = [*shipyard, "run", "three.py", "-q"]
            mf_cmd = [mf or "", "mf_three.py", "--quiet", "run"]
            mf_env = clean_env(work / "home")
            mf_env["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(work)
            timed(ours_cmd, work, env)  # warm-up: byte-code, the database
            if mf:
                timed(mf_cmd, work, mf_env)
            a, b = interleaved(
                lambda: timed(ours_cmd, work, env, "run"),
                (lambda: timed(mf_cmd, work, mf_env, "run-peer")) if mf else None,
                args.repeat,
            )
            ok = bool(b) and statistics.median(b) / statistics.median(a) >= 5
            note = "" if mf else f"no Metaflow at {args.metaflow}"
            rows.append(
                row("run: 3-step flow, whole process (s)", a, b, ">= 5x faster than Metaflow", ok, note)
            )
        if only & {"load", "serve"}:
            (work / "register.py").write_text(OURS_REGISTER)
            timed([py, "register.py"], work, env)
        if "load" in only:
            (work / "load.py").write_text(OURS_LOAD)
            ours_cmd = [py, "load.py"]
            timed(ours_cmd, work, env)
            peer_cmd: list[str] = []
            if ml:
                (work / "ml_save.py").write_text(MLFLOW_SAVE)
                (work / "ml_load.py").write_text(MLFLOW_LOAD)
                ml_env = clean_env(work / "home")
                timed([ml, "ml_save.py", str(work / "mlflow-model")], work, ml_env)
                peer_cmd = [ml, "ml_load.py", str(work / "mlflow-model")]
                timed(peer_cmd, work, ml_env)
            a, b = interleaved(
                lambda: timed(ours_cmd, work, env, "load"),
                (lambda: timed(peer_cmd, work, ml_env, "load-peer")) if ml else None,
                args.repeat,
            )
            ours_s = statistics.median(a)
            ok = bool(b) and ours_s < 1 and statistics.median(b) / ours_s >= 5
            note = "" if ml else f"no MLflow at {args.mlflow}"
            rows.append(
                row(
                    "load: import + load sklearn pipeline (s)",
                    a,
                    b,
                    "< 1 s, >= 5x faster than MLflow",
                    ok,
                    note,
                )
            )
        if "serve" in only:

            def serve_once() -> float:
                port = free_port()
                cmd = [
                    *shipyard,
                    "serve",
                    "models:/bench_pipe/1",
                    "--port",
                    str(port),
                    "--no-auth",
                    "--no-log",
                ]
                return time_to_ready(cmd, work, env, port)

            serve_once()
            a, _ = interleaved(serve_once, None, max(3, args.repeat // 2))
            rows.append(row("serve: start to /ready 200 (s)", a, [], "< 2 s", statistics.median(a) < 2))
        if "runs-list" in only and "run" not in only:  # a listing with a run in it, not the empty one
            (work / "three.py").write_text(OURS_THREE)
            timed([*shipyard, "run", "three.py", "-q"], work, env)
        floor = ""
        if only & {"help", "runs-list"}:  # the interpreter alone, for a loaded machine's scale
            pass_cmd = [py, "-c", "pass"]
            timed(pass_cmd, work, env)
            empty, _ = interleaved(lambda: timed(pass_cmd, work, env, "python -c pass"), None, args.repeat)
            floor = f"(python -c pass: {statistics.median(empty):.3f} s)"
        for name, argv in (("help", ["--help"]), ("runs-list", ["runs", "list"])):
            if name not in only:
                continue
            cmd = [*shipyard, *argv]
            timed(cmd, work, env)
            a, _ = interleaved(lambda cmd=cmd, name=name: timed(cmd, work, env, name), None, args.repeat)  # type: ignore[misc]
            rows.append(
                row(
                    f"shipyard {' '.join(argv)} (s)",
                    a,
                    [],
                    "< 0.150 s",
                    statistics.median(a) < 0.150,
                    floor,
                )
            )

    print(f"{'benchmark':44} {'ours':>8} {'peer':>8} {'ratio':>7}  {'target':32} result")
    for r in rows:
        peer = f"{r['peer']:.3f}" if r["peer"] is not None else "-"
        ratio = f"{r['peer'] / r['ours']:.1f}x" if r["peer"] is not None else "-"
        verdict = "PASS" if r["pass"] else "FAIL"
        print(f"{r['name']:44} {r['ours']:8.3f} {peer:>8} {ratio:>7}  {r['target']:32} {verdict} {r['note']}")
    cpu = {label: statistics.median(values) for label, values in CPU.items()}
    if cpu:
        shown = ", ".join(f"{label} {seconds:.3f}" for label, seconds in cpu.items())
        print(f"CPU seconds per process (user+sys, medians): {shown}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    summary = {"rows": rows, "cpu_s": cpu, "cpus": os.cpu_count(), "load_avg_1m": load}
    RESULTS.write_text(json.dumps(summary, indent=2))
    print(f"(load average over the last minute: {load:.2f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
