"""A real Airflow for the exporter tests: a virtual environment with ``apache-airflow`` (and the
cncf.kubernetes provider, to import the kubernetes variant; and Airflow 2.10 for the DAG file's
fallback imports) from PyPI, built once per machine in a cache folder outside the repository
(``$SHIPYARD_TEST_AIRFLOW_CACHE``, default ``~/.cache/shipyard``, one
``airflow-<version>-py<X.Y>`` each) and reused while its ``.ready`` marker exists.

Airflow runs in its own environment, never in shipyard's: the exported DAG runs shipyard's commands
as subprocesses with the project's interpreter (``--python``), as a worker would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.tool_venvs import ToolUnavailable, ensure_venv

# per major version: the exact release and what is installed with it (pinned: no constraints file)
AIRFLOWS = {
    3: ("3.3.2", ["apache-airflow==3.3.2", "apache-airflow-providers-cncf-kubernetes==10.25.0"]),
    2: ("2.10.5", ["apache-airflow==2.10.5"]),
}
BUILD_TIMEOUT_S = 1800
PROBE = Path(__file__).with_name("airflow_probe.py")


class AirflowUnavailable(RuntimeError):
    """The Airflow environment could not be built (no PyPI, no venv module...)."""


def venv_dir(major: int = 3) -> Path:
    version = AIRFLOWS[major][0]
    cache = os.environ.get("SHIPYARD_TEST_AIRFLOW_CACHE")
    root = (
        Path(cache)
        if cache
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shipyard"
    )
    return root / f"airflow-{version}-py{sys.version_info.major}.{sys.version_info.minor}"


def ensure_airflow(major: int = 3) -> Path:
    """The folder of the Airflow environment, built now if missing (minutes, once per machine)."""
    try:
        return ensure_venv(venv_dir(major), AIRFLOWS[major][1], timeout_s=BUILD_TIMEOUT_S)
    except ToolUnavailable as exc:
        raise AirflowUnavailable(str(exc)) from exc


def airflow_env(home: Path, dags: Path, **extra: str) -> dict[str, str]:
    """The environment of an Airflow command: its own home (SQLite), the DAGs folder, no examples;
    ``extra`` (the shipyard settings, ``SHIPYARD_HOME``...) passes through to the tasks' commands."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SHIPYARD_"))}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PYTHONWARNINGS": "ignore",
    }
    return env | extra
