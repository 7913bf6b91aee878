"""A live shipyard server for the real MLflow client: the tracking URI and token set for the
process (``MLFLOW_TRACKING_TOKEN``, sent as a bearer token), restored afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shipyard.server.app import ServerConfig
from tests.server.live import LiveServer, live_server

_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # errors are asserted, not retried for minutes
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}


@contextmanager
def mlflow_server(root: Path, uri: str | None = None) -> Iterator[LiveServer]:
    import mlflow

    config = ServerConfig(token_cache_s=0.0, auth_failures=10_000)
    with live_server(root, config, uri=uri) as server:
        saved = {
            k: os.environ.get(k)
            for k in [*_ENV, "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID"]
        }
        os.environ.update(_ENV)
        os.environ["MLFLOW_TRACKING_TOKEN"] = server.token
        os.environ["MLFLOW_TRACKING_URI"] = server.url
        mlflow.set_tracking_uri(server.url)
        mlflow.set_registry_uri(server.url)
        mlflow.set_experiment(experiment_id="0")  # not one an earlier module's server made
        try:
            yield server
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run()
            # forget this server's active experiment: a later module's start_run(run_id=...) on
            # another store would otherwise be refused as "experiment ID does not match"
            import mlflow.tracking.fluent as fluent

            fluent._active_experiment_id = None
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
