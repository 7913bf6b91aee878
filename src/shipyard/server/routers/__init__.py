"""The REST routers, one module per noun; :func:`include_routers` mounts them all."""

from __future__ import annotations

import importlib

from fastapi import APIRouter, FastAPI

_MODULES = (
    "health",
    "runs",
    "data",
    "artifacts",
    "blobs",
    "tasks",
    "models",
    "datasets",
    "dataset_data",
    "policies",
    "tokens",
    "ci_auth",
    "principals",
    "monitoring",
    "secrets",
    "platform",
    "features",
    "deploy",
    "branches",
)


def include_routers(app: FastAPI) -> None:
    for name in _MODULES:
        module = importlib.import_module(f"shipyard.server.routers.{name}")
        add_routes(app, module.router)
    from shipyard.server.mlflow import router as mlflow_router

    add_routes(app, mlflow_router())  # MLflow's REST API (server/mlflow/)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Put ``router``'s routes on the app itself (paths already carry any router prefix), so that
    ``app.routes`` lists every route with its template: the guard and the route-coverage test
    read them there."""
    app.router.routes.extend(router.routes)
