"""MLflow's REST API on the shipyard server, over shipyard's own stores (no second source of truth).

- ``experiments.py``: experiments, one per namespace (the mapping is documented in
  :mod:`shipyard.metadata.mlflow_compat`);
- ``runs.py``: runs, params, metrics, tags, inputs, search (``filters.py`` maps MLflow's filter and
  order-by grammar onto shipyard's);
- ``metrics.py``: metric history, paged, and the bulk interval;
- ``artifacts.py``: the artifact proxy over run artifacts (content-addressed blobs);
- ``logged_models.py``: MLflow 3's logged models (their files are their run's artifacts);
- ``registry.py``, ``versions.py``: registered models and versions over shipyard's registry
  (stages are a view over aliases);
- ``errors.py``: errors in MLflow's shape and status codes.

Every route is served under ``/api/2.0/mlflow`` and ``/ajax-api/2.0/mlflow`` (the proxy under
``/api/2.0/mlflow-artifacts`` and ``/ajax-api/2.0/mlflow-artifacts``), listed in the permission
table (:data:`shipyard.server.permissions.MLFLOW_RULES`) like every other route, and checked by the
guard with the caller's shipyard token (MLflow clients send ``MLFLOW_TRACKING_TOKEN`` as a bearer
token). Objects named in bodies and query strings are checked in the routes through
:mod:`shipyard.server.access`. The routes are left out of the OpenAPI schema: MLflow documents them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

API_PREFIXES = ("/api/2.0", "/ajax-api/2.0")


def mlflow_routes() -> list[tuple[str, str, Callable[..., Any]]]:
    """(method, path below ``/api/2.0``, endpoint) of every MLflow route."""
    from shipyard.server.mlflow import (
        artifacts,
        experiments,
        logged_models,
        metrics,
        registry,
        runs,
        versions,
    )

    tracking = [
        *experiments.ROUTES,
        *runs.ROUTES,
        *metrics.ROUTES,
        *artifacts.ROUTES,
        *logged_models.ROUTES,
        *registry.ROUTES,
        *versions.ROUTES,
    ]
    return [(m, "/mlflow" + p, f) for m, p, f in tracking] + list(artifacts.PROXY_ROUTES)


def router() -> APIRouter:
    """Every MLflow route under both prefixes."""
    from shipyard.server.deps import once

    built = APIRouter(tags=["mlflow"], dependencies=once())
    for prefix in API_PREFIXES:
        for method, path, endpoint in mlflow_routes():
            built.add_api_route(prefix + path, endpoint, methods=[method], include_in_schema=False)
    return built
