"""The full ``mlflow`` package (its tracking server), in a virtual environment of its own, built
once per machine with uv: the full package caps pyarrow below what shipyard needs, so the dev
install has only ``mlflow-skinny`` (the client)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.tool_venvs import ensure_venv

MLFLOW_SERVER = "3.17.2"  # the same release as the client in the dev extras


def mlflow_server_venv() -> Path:
    """The environment's folder (built now if missing: raises ToolUnavailable when it cannot be)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shipyard"
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return ensure_venv(cache / f"mlflow-{MLFLOW_SERVER}-{python}", [f"mlflow=={MLFLOW_SERVER}"])
