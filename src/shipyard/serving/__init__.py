"""Serving: online inference services and batch inference.

- ``app``: :func:`create_serving_app` (FastAPI; ``POST /predict``, ``/health``, ``/ready``,
  ``/metrics``, ``/docs``); ``run``: uvicorn (``shipyard serve``).
- ``schema``: request bodies as Pydantic models built from the model's signature (422 names the
  column); ``models``: loading versions (pickle refused unless allowed) and the fast predict path.
- ``batcher``: adaptive micro-batching in a dedicated model thread, bounded queue (503 when full).
- ``deployment``: traffic split (sticky by request id), shadow copies, metrics, the prediction log.
- ``predlog``: the prediction log (Parquet segments; schema in its docstring) and
  :func:`read_prediction_log` for monitoring.
- ``guard``: bearer tokens against the platform's token table; ``metrics``: Prometheus, per app.
- ``feedback``: ``POST /feedback`` (ground-truth labels joined to the log by request id).
- ``batch``: :func:`batch_predict` (``shipyard batch``): chunked, parallel, resumable scoring.

Heavy modules (FastAPI, pandas, pyarrow) load on first use of a name below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.serving.app import create_serving_app
    from shipyard.serving.batch import BatchResult, batch_predict
    from shipyard.serving.config import Route, ServingConfig
    from shipyard.serving.predlog import read_prediction_log

__all__ = [
    "BatchResult",
    "Route",
    "ServingConfig",
    "batch_predict",
    "batch_step",
    "create_serving_app",
    "read_prediction_log",
]

_WHERE = {
    "create_serving_app": "shipyard.serving.app",
    "BatchResult": "shipyard.serving.batch",
    "batch_predict": "shipyard.serving.batch",
    "batch_step": "shipyard.serving.batch",
    "Route": "shipyard.serving.config",
    "ServingConfig": "shipyard.serving.config",
    "read_prediction_log": "shipyard.serving.predlog",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(_WHERE[name])
        return getattr(module, "batch_predict" if name == "batch_step" else name)
    raise AttributeError(f"module 'shipyard.serving' has no attribute {name!r}")
