"""Tasks of flow runs and their lineage (task logs are the ``logs/stdout``/``logs/stderr`` artifacts)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard.core.entities import LineageEdge, Task
from shipyard.server.deps import ctx_of, decode_body, may_write_runs, once, wire
from shipyard.server.paging import LIST_PAGE_DEFAULT, check_list_page, split_page
from shipyard.server.schemas import Limit, LineageIn, Offset, TasksIn, TaskUpdateIn

router = APIRouter(prefix="/api/v1", tags=["tasks and lineage"], dependencies=once())


@router.post("/tasks", status_code=204)
def create_tasks(request: Request, body: TasksIn) -> Response:
    tasks = [decode_body(Task, t.model_dump()) for t in body.tasks]
    may_write_runs(request, run_ids=[t.run_id for t in tasks])
    ctx_of(request).stores.metadata.create_tasks(tasks)
    return Response(status_code=204)


@router.get("/cached-task")
def find_cached_task(request: Request, namespace: str, step: str, cache_key: str) -> Response:
    task = ctx_of(request).stores.metadata.find_cached_task(namespace, step, cache_key)
    return wire({"task": task})


@router.get("/tasks/{task_id}")
def get_task(request: Request, task_id: str) -> Response:
    return wire(ctx_of(request).stores.metadata.get_task(task_id))


@router.patch("/tasks/{task_id}")
def update_task(request: Request, task_id: str, body: TaskUpdateIn) -> Response:
    fields = {k: v for k, v in body.model_dump().items() if v is not None}
    ctx = ctx_of(request)
    task = ctx.stores.metadata.update_task(task_id, **fields)
    if ctx.metrics is not None:  # queue wait (RUNNING) and duration (finished) histograms
        ctx.metrics.note_task_update(ctx.stores.metadata, task, "status" in fields)
    return wire(task)


@router.get("/tasks/{task_id}/attempts")
def list_task_attempts(request: Request, task_id: str) -> Response:
    """Every attempt of the task with the artifacts it recorded (a task has at most retries + 1)."""
    return wire({"attempts": ctx_of(request).stores.metadata.list_task_attempts(task_id)})


@router.get("/runs/{run_id}/tasks")
def list_tasks(
    request: Request, run_id: str, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0
) -> Response:
    check_list_page(limit, offset)
    rows = ctx_of(request).stores.metadata.list_tasks(run_id, limit=limit + 1, offset=offset)
    page, next_offset = split_page(rows, limit, offset)
    return wire({"tasks": page, "next_offset": next_offset})


@router.post("/lineage", status_code=204)
def record_lineage(request: Request, body: LineageIn) -> Response:
    edges = [LineageEdge(e.task_id, e.artifact_id, e.input_name) for e in body.edges]
    may_write_runs(request, task_ids=[e.task_id for e in edges])
    ctx_of(request).stores.metadata.record_lineage(edges)
    return Response(status_code=204)


@router.get("/tasks/{task_id}/inputs")
def task_inputs(
    request: Request, task_id: str, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0
) -> Response:
    check_list_page(limit, offset)
    rows = ctx_of(request).stores.metadata.task_inputs(task_id, limit=limit + 1, offset=offset)
    page, next_offset = split_page(rows, limit, offset)
    return wire({"edges": page, "next_offset": next_offset})


@router.get("/artifacts/{artifact_id}/consumers")
def artifact_consumers(
    request: Request, artifact_id: str, limit: Limit = LIST_PAGE_DEFAULT, offset: Offset = 0
) -> Response:
    check_list_page(limit, offset)
    rows = ctx_of(request).stores.metadata.artifact_consumers(artifact_id, limit=limit + 1, offset=offset)
    page, next_offset = split_page(rows, limit, offset)
    return wire({"edges": page, "next_offset": next_offset})
