"""Model-registry benchmark: shipyard vs MLflow, both on SQLite + a local folder, in the same run.

    .venv/bin/python bench/registry.py [--reps N]

What is timed (median of N repetitions, after one untimed warm-up each; run creation and imports
excluded on both sides; shipyard and MLflow are timed back to back within every repetition, so
both see the same machine load):

- log + register: ``shipyard.log_model(pipe, input_example=..., register=True)`` (package with
  skops, model.yaml, example, signature inference; version registration with lineage) versus
  ``mlflow.sklearn.log_model(pipe, name=..., input_example=...)`` + ``mlflow.register_model``,
  once with MLflow's default pip-requirement inference and once with explicit ``pip_requirements``;
- load: ``shipyard.load_model("models:/bench/N")`` (hash-verified, signature-enforcing predictor)
  versus ``mlflow.pyfunc.load_model("models:/bench/N")`` (its signature-enforcing predictor);
  ``mlflow.sklearn.load_model`` is shown for reference.

The model is a StandardScaler + LogisticRegression pipeline on scikit-learn's breast-cancer data.
MLflow runs in ``bench/.venv-mlflow`` (created when missing) as a worker subprocess in a temp dir.
Results also go to ``bench/results/registry.json``.
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
MLFLOW_VENV = ROOT / "bench" / ".venv-mlflow"
RESULTS = ROOT / "bench" / "results" / "registry.json"
TARGET = 5.0


def mlflow_python() -> Path:
    python = MLFLOW_VENV / "bin" / "python"
    if python.exists():
        check = subprocess.run([python, "-c", "import mlflow, sklearn"], capture_output=True, check=False)
        if check.returncode == 0:
            return python
    print("creating bench/.venv-mlflow (a couple of minutes)...", file=sys.stderr)
    subprocess.run(["python3", "-m", "venv", str(MLFLOW_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "mlflow", "scikit-learn"], check=True)
    return python


MLFLOW_WORKER = r"""
import json, logging, sys, time, warnings
logging.disable(logging.WARNING)
warnings.filterwarnings("ignore")
import mlflow, mlflow.sklearn, mlflow.pyfunc
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

mlflow.set_tracking_uri("sqlite:///mlflow.db")
mlflow.set_experiment("bench")
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
example = X.head(5)
reqs = [f"scikit-learn=={sklearn.__version__}"]
state = {"last": None}

def log_register(explicit):
    with mlflow.start_run():
        t = time.perf_counter()
        kw = {"pip_requirements": reqs} if explicit else {}
        info = mlflow.sklearn.log_model(pipe, name="model", input_example=example, **kw)
        mv = mlflow.register_model(info.model_uri, "bench")
        elapsed = time.perf_counter() - t
    state["last"] = mv.version
    return elapsed

def load(loader):
    t = time.perf_counter()
    model = loader(f"models:/bench/{state['last']}")
    elapsed = time.perf_counter() - t
    assert (model.predict(X) == pipe.predict(X)).all()
    return elapsed

ops = {
    "log_register_default": lambda: log_register(False),
    "log_register_explicit": lambda: log_register(True),
    "load_pyfunc": lambda: load(mlflow.pyfunc.load_model),
    "load_sklearn": lambda: load(mlflow.sklearn.load_model),
}
print(json.dumps({"ready": mlflow.__version__}), flush=True)
for line in sys.stdin:
    print(json.dumps({"seconds": ops[line.strip()]()}), flush=True)
"""


class MlflowWorker:
    """MLflow in its own venv and process, answering one timed operation per request, so that
    its measurements interleave with shipyard's and both see the same machine load."""

    def __init__(self, python: Path, cwd: str) -> None:
        env = dict(os.environ, MLFLOW_ENABLE_ASYNC_LOGGING="false", PYTHONWARNINGS="ignore")
        self.stderr_path = Path(cwd) / "worker.stderr"
        self.stderr = open(self.stderr_path, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [python, "-c", MLFLOW_WORKER],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        self.version = str(self._reply()["ready"])

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:  # skip anything else MLflow prints on stdout
            line = self.proc.stdout.readline()
            if not line:
                self.stderr.flush()
                raise SystemExit(f"MLflow worker failed:\n{self.stderr_path.read_text()[-4000:]}")
            if line.startswith("{"):
                reply: dict[str, Any] = json.loads(line)
                return reply

    def time(self, op: str) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(op + "\n")
        self.proc.stdin.flush()
        return float(self._reply()["seconds"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.stderr.close()


def settled(op: Callable[[], float]) -> float:
    """Time ``op`` once the previous one's background work (either side's threads, the OS's
    write-back) has had a moment to finish, so no operation pays for the one before it."""
    time.sleep(0.25)
    return op()


def run_both(python: Path, reps: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Interleaved: each repetition times shipyard and MLflow back to back."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-shipyard-") as home,
        tempfile.TemporaryDirectory(prefix="bench-mlflow-") as mlflow_dir,
    ):
        os.environ["SHIPYARD_HOME"] = home
        import numpy as np
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        import shipyard

        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
        example = X.head(5)
        last = {"version": 0}

        def log_register() -> float:
            with shipyard.start_run():
                t = time.perf_counter()
                info = shipyard.log_model(pipe, "bench", input_example=example, register=True)
                elapsed = time.perf_counter() - t
            assert info.version is not None
            last["version"] = info.version.version
            return elapsed

        def load() -> float:
            t = time.perf_counter()
            model = shipyard.load_model(f"models:/bench/{last['version']}")
            elapsed = time.perf_counter() - t
            assert np.array_equal(model.predict(X), pipe.predict(X))
            return elapsed

        worker = MlflowWorker(python, mlflow_dir)
        ours: dict[str, list[float]] = {"log_register": [], "load": []}
        theirs: dict[str, Any] = {"version": worker.version}
        mlflow_ops = ("log_register_default", "log_register_explicit", "load_pyfunc", "load_sklearn")
        for op in mlflow_ops:
            theirs[op] = []
        try:
            for rep in range(reps + 1):  # repetition 0 is the untimed warm-up
                timed = {
                    "log_register": settled(log_register),
                    "log_register_default": settled(lambda: worker.time("log_register_default")),
                    "log_register_explicit": settled(lambda: worker.time("log_register_explicit")),
                    "load": settled(load),
                    "load_pyfunc": settled(lambda: worker.time("load_pyfunc")),
                    "load_sklearn": settled(lambda: worker.time("load_sklearn")),
                }
                if rep == 0:
                    continue
                for key, seconds in timed.items():
                    (ours if key in ours else theirs)[key].append(seconds)
        finally:
            worker.close()
        return ours, theirs


def report(ours: dict[str, Any], theirs: dict[str, Any]) -> list[dict[str, Any]]:
    med = statistics.median
    rows = [
        ("log + register (MLflow default: pip requirements inferred)", med(ours["log_register"]),
         med(theirs["log_register_default"]), TARGET),
        ("log + register (MLflow explicit pip_requirements)", med(ours["log_register"]),
         med(theirs["log_register_explicit"]), TARGET),
        ("load (MLflow pyfunc.load_model)", med(ours["load"]), med(theirs["load_pyfunc"]), TARGET),
        ("load (MLflow sklearn.load_model, reference)", med(ours["load"]), med(theirs["load_sklearn"]), None),
    ]  # fmt: skip
    table = []
    print(
        f"\nmodel registry: shipyard vs MLflow {theirs['version']} "
        "(median seconds per call, lower is better)\n"
    )
    header = f"{'what':<62} {'shipyard':>9} {'MLflow':>9} {'ratio':>7} {'target':>7}  result"
    print(header)
    print("-" * len(header))
    for what, ours_s, peer_s, target in rows:
        ratio = peer_s / ours_s if ours_s > 0 else float("inf")
        verdict = "-" if target is None else ("PASS" if ratio >= target else "FAIL")
        shown_target = f"{target:.0f}x" if target is not None else "-"
        print(f"{what:<62} {ours_s:>9.4f} {peer_s:>9.4f} {ratio:>6.1f}x {shown_target:>7}  {verdict}")
        table.append({"what": what, "shipyard_s": ours_s, "mlflow_s": peer_s, "ratio": ratio,
                      "target": target, "result": verdict})  # fmt: skip
    return table


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions per measurement")
    args = parser.parse_args()
    ours, theirs = run_both(mlflow_python(), args.reps)
    table = report(ours, theirs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"reps": args.reps, "shipyard": ours, "mlflow": theirs, "table": table}, indent=2)
    )
    return 0 if all(row["result"] != "FAIL" for row in table) else 1


if __name__ == "__main__":
    sys.exit(main())
