"""Builds every tool the tests run in an environment of its own (Airflow 3 and 2, checkov, the
MLflow server, the npm CRD validators, Helm's Go SDK), all at once, so that a fresh CI machine
downloads them while the linters run rather than inside the tests: ``.ci/run`` starts
``python -m tests.prebuild_tools`` in the background before ruff and mypy.

Each build takes the same file lock the tests take (tests/tool_venvs.py), so a test that needs a
tool still being built waits for it instead of building it twice; a tool that cannot be built here
is reported and left to its tests, which skip or fail (in CI) with the reason.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _jobs() -> dict[str, Callable[[], Any]]:
    from tests.deploy.render_tools import _checkov_bin, _crd_models, _helm_python
    from tests.exporters.airflow_venv import ensure_airflow
    from tests.importers.mlflow_server_venv import mlflow_server_venv

    return {
        "airflow 3": lambda: ensure_airflow(3),
        "airflow 2": lambda: ensure_airflow(2),
        "checkov": _checkov_bin,
        "mlflow server": mlflow_server_venv,
        "CRD validators (npm)": _crd_models,
        "helm (helm-python-sdk)": _helm_python,
    }


def _build(name: str, job: Callable[[], Any]) -> str:
    started = time.monotonic()
    try:
        job()
    except BaseException as exc:  # pytest.skip and pytest.fail raise BaseExceptions
        import traceback

        where = traceback.format_exc(limit=-3).strip().replace("\n", "\n    ")
        return f"{name}: not built ({type(exc).__name__}: {exc})\n    {where}"
    return f"{name}: ready in {time.monotonic() - started:.0f} s"


def main() -> int:
    from tests.tool_venvs import _uv

    _uv()  # once, before the threads: sysconfig's first read is not thread-safe (uv's finder uses it)
    jobs = _jobs()
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for line in pool.map(lambda item: _build(*item), jobs.items()):
            print(f"tools: {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
