"""The serving package's public names resolve, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import shipyard.serving


def test_every_exported_name_resolves() -> None:
    assert sorted(shipyard.serving.__all__) == [
        "BatchResult", "Route", "ServingConfig", "batch_predict", "batch_step", "create_serving_app",
        "read_prediction_log",
    ]  # fmt: skip
    for name in shipyard.serving.__all__:
        assert getattr(shipyard.serving, name) is not None


def test_import_does_not_load_fastapi_pandas_or_pyarrow() -> None:
    code = (
        "import sys, shipyard.serving, shipyard.serving.config;"
        "print(sorted(m for m in ('fastapi', 'pandas', 'pyarrow', 'prometheus_client') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
