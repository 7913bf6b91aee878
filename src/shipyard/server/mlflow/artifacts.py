"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts/...``) over shipyard's run artifacts.

A run's artifact URI is ``mlflow-artifacts:/<experiment>/<run>/artifacts``; the client resolves it
to this server and puts, gets and lists files below it. A file is a run-level artifact record of
the run (name = its path below ``artifacts/``) whose bytes are a content-addressed blob: the
client's path is a *name*, validated like every artifact name (:func:`shipyard.core.names.validate_key`:
no ``..``, no absolute path, no backslash or control characters; the guard already refused
non-canonical URLs), and never a location on disk. Names are write-once, as for every shipyard
artifact: putting the same bytes again is a no-op, other bytes at a taken path answer
INVALID_PARAMETER_VALUE. ``shipyard artifacts`` sees the same records (serializer ``bytes``).

Listing reads at most :data:`MAX_LISTED` records of a run (the proxy's listing is not paged in MLflow).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.names import validate_key
from shipyard.server.deps import ctx_of
from shipyard.server.errors import error_response
from shipyard.server.mlflow.common import answer, may_change_run, query, read_run, store
from shipyard.server.mlflow.convert import artifact_uri, run_id_of, text

MAX_LISTED = 10_000
_PAGE = 1000


def locate(request: Request, path: str) -> tuple[str, str, str]:
    """(run id, the artifact name of the path, the folder its names start with) of a proxy path:
    ``<experiment>/<run>/artifacts/<name>`` (a run's files) or ``<experiment>/models/<model_id>/
    artifacts/<name>`` (a logged model's: its run's artifacts under ``mlflow-models/<model_id>/``)."""
    parts = path.strip("/").split("/")
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        from shipyard.server.mlflow.logged_models import FILES_PREFIX

        model = store(request).get_logged_model(parts[2])
        if model.run_id is None:
            raise NotFoundError(f"logged model {parts[2]!r} has no files")
        root = f"{FILES_PREFIX}/{model.model_id}"
        rest = parts[4:]
    elif len(parts) >= 3 and parts[2] == "artifacts" and parts[0] and parts[1]:
        root, rest = "", parts[3:]
        run_id = parts[1]
    else:
        raise InvalidInputError(
            f"artifact path {path[:200]!r} is not <experiment_id>/<run_id>/artifacts/<path>; "
            "use the run's artifact_uri"
        )
    if root:
        run_id = str(model.run_id)
    name = "/".join(p for p in [root, *rest] if p)
    if name:
        validate_key("artifact", name)
    return run_id, name, root


def run_files(request: Request, run_id: str) -> list[Any]:
    metadata = ctx_of(request).stores.metadata
    found: list[Any] = []
    while len(found) < MAX_LISTED:
        page = metadata.list_artifacts(run_id, None, limit=_PAGE, offset=len(found))
        found.extend(page)
        if len(page) < _PAGE:
            break
    return [r for r in found[:MAX_LISTED] if r.task_id is None]  # run-level: the MLflow files


def listing(request: Request, run_id: str, directory: str) -> list[dict[str, Any]]:
    """The files and folders right below ``directory`` ('' for the root), paths relative to it."""
    prefix = f"{directory.rstrip('/')}/" if directory else ""
    files: dict[str, dict[str, Any]] = {}
    for record in run_files(request, run_id):
        if not record.name.startswith(prefix) or record.name == directory:
            continue
        head, sep, _ = record.name[len(prefix) :].partition("/")
        if sep:
            files.setdefault(head, {"path": head, "is_dir": True})
        else:
            files[head] = {"path": head, "is_dir": False, "file_size": record.size}
    return [files[k] for k in sorted(files)]


def list_proxy(request: Request) -> Response:
    path = text(query(request), "path", required=False, limit=2000)
    run_id, name, _ = locate(request, path)
    read_run(request, run_id)
    return answer({"files": listing(request, run_id, name)})


def list_tracking(request: Request) -> Response:
    """``/api/2.0/mlflow/artifacts/list``: the same listing, paths relative to the run's root."""
    params = query(request)
    run_id = run_id_of(params)
    directory = text(params, "path", required=False, limit=2000).strip("/")
    if directory:
        validate_key("artifact", directory)
    run = read_run(request, run_id)
    files = listing(request, run_id, directory)
    for item in files:
        item["path"] = f"{directory}/{item['path']}" if directory else item["path"]
    from shipyard.server.mlflow.common import experiment_id_of

    return answer({"root_uri": artifact_uri(experiment_id_of(request, run), run_id), "files": files})


def download(request: Request, artifact_path: str) -> Response:
    from shipyard.server.blob_responses import blob_response

    run_id, name, root = locate(request, artifact_path)
    read_run(request, run_id)
    if name == root:
        raise InvalidInputError("name a file below artifacts/ to download")
    ctx = ctx_of(request)
    try:
        record = ctx.stores.metadata.find_artifact(run_id, name)
    except NotFoundError:
        raise NotFoundError(f"run {run_id} has no artifact {name!r}") from None
    headers = {"X-Content-Type-Options": "nosniff", "Content-Disposition": "attachment"}
    return blob_response(ctx.stores.artifacts.cas, record.digest, name, headers, "application/octet-stream")


async def upload(request: Request, artifact_path: str) -> Response:
    import anyio.to_thread

    from shipyard.core.clock import utcnow
    from shipyard.core.entities import ArtifactRecord
    from shipyard.core.ids import new_id

    run_id, name, root = locate(request, artifact_path)
    if name == root:
        raise InvalidInputError("name a file below artifacts/ to upload")
    await anyio.to_thread.run_sync(lambda: may_change_run(request, run_id))
    ctx = ctx_of(request)
    limit = ctx.config.max_blob_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return error_response(
            413, "payload_too_large", f"file of {declared} bytes is over the limit of {limit}"
        )
    with ctx.stores.artifacts.cas.writer() as out:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return error_response(413, "payload_too_large", f"file is over the limit of {limit} bytes")
            await anyio.to_thread.run_sync(out.write, chunk)
        digest, size = await anyio.to_thread.run_sync(out.commit)
    record = ArtifactRecord(
        id=new_id(),
        run_id=run_id,
        name=name,
        digest=digest,
        size=size,
        serializer="bytes",
        created_at=utcnow(),
        meta={"python_type": "bytes", "source": "mlflow"},
    )
    await anyio.to_thread.run_sync(ctx.stores.metadata.record_artifact, record)
    return answer({})


PROXY = "/mlflow-artifacts/artifacts"
PROXY_FILE = PROXY + "/{artifact_path:path}"

ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", "/artifacts/list", list_tracking),
]
PROXY_ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", PROXY, list_proxy),
    ("GET", PROXY_FILE, download),
    ("PUT", PROXY_FILE, upload),
]
