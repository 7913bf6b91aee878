"""Runs inside the Airflow environment (never imports shipyard): loads a DAGs folder into a DagBag and
prints, as the last line, JSON with each file's parse time, the import errors, each DAG's tasks,
and (``--mapping N ...``) the chunk mapping each file's ``_mapping`` gives for N tasks.

    python airflow_probe.py DAGS_FOLDER [--mapping 2000 ...]

As Airflow's DAG processor does (``[dag_processor] parsing_pre_import_modules``), the modules a
file imports are imported before it is parsed, so a file's time is its own work, not Airflow's.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import json
import runpy
from pathlib import Path


def _pre_import(folder: Path) -> None:
    for file in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                with contextlib.suppress(ImportError):  # a fallback (Airflow 2) or an error DagBag reports
                    importlib.import_module(name)


def _dagbag(folder: Path):  # type: ignore[no-untyped-def]
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag
    try:
        return DagBag(dag_folder=str(folder), include_examples=False)
    except TypeError:  # Airflow 3.1+: examples come from the configuration
        return DagBag(dag_folder=str(folder))


def _task(task) -> dict[str, object]:  # type: ignore[no-untyped-def]
    out: dict[str, object] = {
        "type": type(task).__name__,
        "upstream": sorted(task.upstream_task_ids),
        "trigger_rule": str(getattr(task.trigger_rule, "value", task.trigger_rule)),
        "mapped": any(c.__name__ == "MappedOperator" for c in type(task).__mro__),
        "retries": task.retries,
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "queue": task.queue,
    }
    if task.retries:
        out["retry_delay_s"] = task.retry_delay.total_seconds()
        out["retry_exponential_backoff"] = float(task.retry_exponential_backoff)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--mapping", type=int, nargs="*", default=[])
    args = parser.parse_args()
    _pre_import(args.folder)
    bag = _dagbag(args.folder)
    import airflow

    result = {
        "version": airflow.__version__,
        "files": {
            Path(s.file).name: {"duration_s": s.duration.total_seconds(), "dags": s.dag_num}
            for s in bag.dagbag_stats
        },
        "errors": {Path(k).name: str(v).strip().splitlines()[-1:] for k, v in bag.import_errors.items()},
        "dags": {
            dag_id: {
                "schedule": str(getattr(dag, "schedule", None) or getattr(dag, "timetable", None)),
                "tasks": {t.task_id: _task(t) for t in dag.tasks},
            }
            for dag_id, dag in bag.dags.items()
        },
        "mapping": {},
    }
    for file in sorted(args.folder.glob("*.py")):
        if args.mapping and Path(file).name not in result["errors"]:
            module = runpy.run_path(str(file))
            mapping = module["_mapping"]
            result["mapping"][file.name] = {n: mapping(n) for n in args.mapping}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
