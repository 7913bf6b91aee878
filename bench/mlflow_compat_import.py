"""``shipyard import mlflow`` throughput: 1,000 runs x 10 metrics x 1,000 points (10 M points).

    PYTHONPATH=src .venv/bin/python bench/mlflow_compat_import.py [--store file|sqlite]
        [--runs 1000] [--metrics 10] [--points 1000]

The source is built fast with MLflow's own store classes: runs (with a few params and tags) by
``FileStore.create_run`` / ``SqlAlchemyStore.create_run``, the metric histories written in the
store's own format (a file store's metric files, ``timestamp value step`` per line; a SQL store's
``metrics`` and ``latest_metrics`` rows in one ``executemany`` on the store's engine), since
logging 10 M points through MLflow point by point takes far longer than the import being timed.
Then ``shipyard import mlflow`` runs in-process into a fresh local shipyard home and is timed,
end to end (MlflowClient opened, every point written and counted back, summary checked).
The target is < 30 s. Results go to ``bench/results/mlflow_compat_import.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "mlflow_compat_import.json"
T0 = 1_700_000_000_000


def build_file_store(root: Path, runs: int, metrics: int, points: int) -> str:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.entities import RunStatus, RunTag
    from mlflow.store.tracking.file_store import FileStore

    store = FileStore(str(root / "mlruns"), str(root / "mlruns-artifacts"))
    exp = store.create_experiment("bench")
    series = {k: "".join(f"{T0 + i} {k + i * 0.001!r} {i}\n" for i in range(points)) for k in range(metrics)}
    for r in range(runs):
        run = store.create_run(exp, "bench", T0 + r, [RunTag("team", "bench")], f"run-{r}")
        rid = run.info.run_id
        store.log_param(rid, _param("lr", str(0.001 * (r + 1))))
        folder = root / "mlruns" / exp / rid / "metrics"
        for k, text in series.items():
            (folder / f"m{k}").write_text(text)
        store.update_run_info(rid, RunStatus.FINISHED, T0 + r + 1000, f"run-{r}")
    return (root / "mlruns").as_uri()


def build_sqlite_store(root: Path, runs: int, metrics: int, points: int) -> str:
    import sqlalchemy as sa
    from mlflow.entities import RunStatus, RunTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri = f"sqlite:///{root / 'mlflow.db'}"
    store = SqlAlchemyStore(uri, str(root / "artifacts"))
    exp = store.create_experiment("bench")
    insert = sa.text(
        "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
        "VALUES (:key, :value, :ts, :run, :step, 0)"
    )
    latest = sa.text(
        "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) "
        "VALUES (:key, :value, :ts, :run, :step, 0)"
    )
    for r in range(runs):
        run = store.create_run(exp, "bench", T0 + r, [RunTag("team", "bench")], f"run-{r}")
        rid = run.info.run_id
        store.log_param(rid, _param("lr", str(0.001 * (r + 1))))
        rows = [
            {"key": f"m{k}", "value": k + i * 0.001, "ts": T0 + i, "run": rid, "step": i}
            for k in range(metrics)
            for i in range(points)
        ]
        with store.engine.begin() as conn:
            conn.execute(insert, rows)
            conn.execute(latest, [row for row in rows if row["step"] == points - 1])
        store.update_run_info(rid, RunStatus.FINISHED, T0 + r + 1000, f"run-{r}")
    return uri


def _param(key: str, value: str) -> object:
    from mlflow.entities import Param

    return Param(key, value)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=("file", "sqlite"), default="file")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--points", type=int, default=1000)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-mlflow-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        build = build_file_store if args.store == "file" else build_sqlite_store
        uri = build(root, args.runs, args.metrics, args.points)
        built_s = time.perf_counter() - started
        print(f"source built in {built_s:.1f} s: {uri}", file=sys.stderr)

        from shipyard.core.settings import load_settings
        from shipyard.importers.mlflow_import import ImportOptions, MlflowImporter
        from shipyard.importers.mlflow_source import MlflowSource
        from shipyard.tracking.stores import open_stores

        stores = open_stores(load_settings(home=root / "shipyard"))
        try:
            started = time.perf_counter()
            summary = MlflowImporter(MlflowSource(uri), stores, ImportOptions()).run()
            import_s = time.perf_counter() - started
        finally:
            stores.close()
    points = summary.imported.metric_points
    expected = args.runs * args.metrics * args.points
    assert points == expected, (points, expected)
    result = {
        "store": args.store,
        "runs": args.runs,
        "metrics_per_run": args.metrics,
        "points_per_metric": args.points,
        "metric_points": points,
        "import_s": round(import_s, 2),
        "points_per_s": round(points / import_s),
        "target_s": 30,
        "met": import_s < 30,
        "source_build_s": round(built_s, 1),
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
