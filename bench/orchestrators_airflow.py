"""Airflow benchmark: DagBag import time of an exported DAG vs a hand-written equivalent DAG.

    .venv/bin/python bench/orchestrators_airflow.py --airflow-python PATH [--repeat 20]

``PATH`` is the interpreter of an environment with ``apache-airflow`` (3.x) and, for the kubernetes
variant, ``apache-airflow-providers-cncf-kubernetes``; the tests build one in
``~/.cache/shipyard/airflow-3.3.2-py3.11`` (tests/exporters/airflow_venv.py), the default here.
The flow is ``examples/train_flow.py`` (load, grid, a mapped train, pick_best). Its exports
(``--operator local`` and ``kubernetes``) and a hand-written TaskFlow DAG of the same four steps
(``.expand`` over the grid, step bodies importing their libraries lazily, as a careful author writes
it) are parsed ``--repeat`` times each by a DagBag in one Airflow process, after the modules the
files import were imported (Airflow's ``parsing_pre_import_modules``). Prints the median parse time
per file (DagBag's own FileLoadStat) and the export's ratio to the hand-written one; the issue's
target: under 0.5 s. Writes ``bench/results/orchestrators_airflow.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "orchestrators_airflow.json"
FLOW = ROOT / "examples" / "train_flow.py"
DEFAULT_AIRFLOW = Path.home() / ".cache" / "shipyard" / "airflow-3.3.2-py3.11" / "bin" / "python"
TARGET_S = 0.5

HAND_WRITTEN = '''
"""train_models, written for Airflow by hand: the same four steps, mapped over the grid."""
import datetime

from airflow.sdk import DAG, task


@task
def load_data():
    from sklearn.datasets import load_breast_cancer

    features, labels = load_breast_cancer(return_X_y=True)
    return {"features": features.tolist(), "labels": labels.tolist()}


@task
def grid(cs, trees):
    return [{"model": "logreg", "C": c} for c in cs] + [{"model": "forest", "n_estimators": n} for n in trees]


@task(retries=1)
def train(config, data, test_size, seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        data["features"], data["labels"], test_size=test_size, random_state=seed
    )
    model = LogisticRegression(C=config.get("C", 1.0), max_iter=500).fit(x_train, y_train)
    return {"config": config, "f1": float(f1_score(y_test, model.predict(x_test)))}


@task
def pick_best(results, metric):
    return max(results, key=lambda r: r[metric])


with DAG(
    dag_id="hand_written_train_models",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
):
    data = load_data()
    configs = grid([0.01, 0.1, 1.0, 10.0], [50])
    results = train.partial(data=data, test_size=0.25, seed=0).expand(config=configs)
    pick_best(results, "f1")
'''

MEASURE = r"""
import ast, contextlib, importlib, json, statistics, sys
from pathlib import Path
folder, repeat = Path(sys.argv[1]), int(sys.argv[2])
for file in sorted(folder.glob("*.py")):
    for node in ast.walk(ast.parse(file.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
        for name in names:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
from airflow.dag_processing.dagbag import DagBag
times = {}
for _ in range(repeat):
    bag = DagBag(dag_folder=str(folder))
    assert not bag.import_errors, bag.import_errors
    for stat in bag.dagbag_stats:
        times.setdefault(Path(stat.file).name, []).append(stat.duration.total_seconds())
print(json.dumps({name: statistics.median(values) for name, values in times.items()}))
"""


def export(operator: str, dags: Path, env: dict[str, str]) -> float:
    cmd = [sys.executable, "-m", "shipyard.cli.main", "export", "airflow", str(FLOW), "-o", str(dags)]
    cmd += ["--operator", operator, "--dag-id", f"exported_{operator}", "--image", "registry/train:1"]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--airflow-python", type=Path, default=DEFAULT_AIRFLOW)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if not args.airflow_python.exists():
        print(
            f"error: no Airflow interpreter at {args.airflow_python}; pass --airflow-python", file=sys.stderr
        )
        return 1
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-airflow-"))
    dags = work / "dags"
    dags.mkdir()
    env = {**os.environ, "SHIPYARD_HOME": str(work / "home")}
    export_s = {op: export(op, dags, env) for op in ("local", "kubernetes")}
    (dags / "hand_written.py").write_text(HAND_WRITTEN)
    airflow_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH", "SHIPYARD"))
    }
    airflow_env |= {"AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    airflow_env |= {"AIRFLOW__CORE__DAGS_FOLDER": str(dags), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [str(args.airflow_python), "-c", MEASURE, str(dags), str(args.repeat)],
        env=airflow_env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"error: measuring in Airflow failed: {done.stderr.strip()[-2000:]}", file=sys.stderr)
        return 1
    medians = json.loads(done.stdout.strip().splitlines()[-1])
    hand = medians["hand_written.py"]
    rows = []
    print(f"{'DAG file':28} {'parse (median)':>15} {'vs hand-written':>16}  target")
    for name in ("exported_local.py", "exported_kubernetes.py", "hand_written.py"):
        parse = medians[name]
        passed = parse < TARGET_S
        rows.append({"file": name, "parse_s": parse, "ratio": parse / hand, "pass": passed})
        verdict = "PASS" if passed else "FAIL"
        print(f"{name:28} {parse * 1000:>12.1f} ms {parse / hand:>15.2f}x  < {TARGET_S} s {verdict}")
    for op, seconds in export_s.items():
        print(f"export --operator {op}: {seconds:.2f} s (a whole `shipyard export airflow` process)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"repeat": args.repeat, "rows": rows, "export_s": export_s}, indent=2))
    return 0 if all(r["pass"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
