"""What the MLflow routes share: the compat store, the per-object checks (ids come in query strings
and bodies, so the routes call :mod:`shipyard.server.access` themselves), JSON answers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.responses import Response

from shipyard.core.errors import NotFoundError
from shipyard.server.deps import ctx_of, principal_of

if TYPE_CHECKING:
    from shipyard.core.entities import Run
    from shipyard.metadata.mlflow_compat import Experiment, MlflowCompatStore


def now_ms() -> int:
    return int(time.time() * 1000)


def store(request: Request) -> MlflowCompatStore:
    return ctx_of(request).mlflow


def answer(doc: dict[str, Any]) -> Response:
    import orjson

    return Response(orjson.dumps(doc), media_type="application/json")


def query(request: Request) -> dict[str, Any]:
    """The query string as MLflow's GET requests send it (a repeated name becomes a list)."""
    out: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


def hidden(request: Request) -> list[str]:
    return sorted(principal_of(request).access.hidden_projects())


def visible_experiment(request: Request, experiment: Experiment) -> Experiment:
    """The experiment, or NotFoundError when its namespace is a private project's the caller
    may not see (it answers like a missing one)."""
    from shipyard.security.policy import scope_of_namespace

    scope = scope_of_namespace(experiment.namespace)
    if scope.removeprefix("project:") in principal_of(request).access.hidden_projects():
        raise NotFoundError(f"experiment {experiment.id!r} not found")
    return experiment


def may_write_namespace(request: Request, namespace: str) -> None:
    from shipyard.server.access import check_namespace

    check_namespace(principal_of(request).access, namespace)


def read_run(request: Request, run_id: str) -> Run:
    """The run for a read (NotFoundError for a private project's run the caller may not see)."""
    from shipyard.server.access import check_run

    ctx = ctx_of(request)
    check_run(ctx, principal_of(request).access, "run:read", run_id)
    return ctx.stores.metadata.get_run(run_id)


def may_change_run(request: Request, run_id: str, permission: str = "run:write") -> None:
    """The per-object check of a write to ``run_id`` (ownership, scope), and a 404 when it is missing."""
    from shipyard.server.access import check_run, run_owner

    ctx = ctx_of(request)
    if run_owner(ctx, run_id) is None:
        raise NotFoundError(f"run {run_id!r} not found")
    check_run(ctx, principal_of(request).access, permission, run_id)


def experiment_id_of(request: Request, run: Run) -> str:
    return store(request).experiment_for_namespace(run.namespace, now_ms()).id
