"""MLflow model versions over shipyard's registry: create, get, search, delete, tags, stage
transitions (a view over aliases), download URI.

An MLflow model version is a shipyard model version whose package (flavor ``mlflow``, ``unsafe``:
the pyfunc flavor unpickles) is a normal shipyard model package -- ``model.yaml`` plus the MLflow
model folder under ``mlflow_model/``, as :mod:`shipyard.registry.flavors.mlflow_pyfunc` writes and
``shipyard import mlflow`` stores -- built here from the source's files: a logged model
(``models:/m-...``), or a folder of a run's artifacts (``runs:/RUN/PATH``,
``mlflow-artifacts:/...``). Its MLflow source is kept as the tag ``mlflow.shipyard.source`` (tags
under ``mlflow.shipyard.`` are not shown to MLflow clients).

Stages are aliases: ``Staging`` is the alias ``staging``, ``Production`` is ``production``; a
version's ``current_stage`` is the stage whose alias points at it; moving to ``Archived`` or
``None`` removes those aliases from the version. Shipyard's alias rules hold (a protected alias such
as ``champion`` only points at an approved version)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Body, Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.names import validate_key
from shipyard.server.deps import ctx_of, principal_of
from shipyard.server.mlflow.common import answer, query, read_run, store
from shipyard.server.mlflow.convert import integer, pairs, text

if TYPE_CHECKING:
    from shipyard.metadata.model_registry import ModelVersion

JsonBody = Annotated[dict[str, Any], Body()]
HIDDEN = "mlflow.shipyard."
SOURCE_TAG, MODEL_ID_TAG = HIDDEN + "source", HIDDEN + "model_id"
STAGES = {"staging": "Staging", "production": "Production"}
MAX_FILES = 10_000


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


def stage_of(version: ModelVersion) -> str:
    for alias, stage in (("production", "Production"), ("staging", "Staging")):
        if alias in version.aliases:
            return stage
    return "None"


def version_json(version: ModelVersion) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": version.model_name,
        "version": str(version.version),
        "creation_timestamp": _ms(version.created_at),
        "last_updated_timestamp": _ms(version.created_at),
        "user_id": version.created_by,
        "current_stage": stage_of(version),
        "description": version.description,
        "source": version.tags.get(SOURCE_TAG, version.uri),
        "status": "READY",
        "tags": [{"key": k, "value": v} for k, v in sorted(version.tags.items()) if not k.startswith(HIDDEN)],
        "aliases": sorted(version.aliases),
    }
    if version.run_id:
        doc["run_id"] = version.run_id
    if MODEL_ID_TAG in version.tags:
        doc["model_id"] = version.tags[MODEL_ID_TAG]
    return doc


def number(body: dict[str, Any]) -> int:
    raw = body.get("version")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.isdigit() and len(raw) < 10:
        return int(raw)
    raise InvalidInputError(f"version must be a whole number, got {str(raw)[:40]!r}")


def check(request: Request, permission: str, name: str, version: int | None = None) -> None:
    """The per-object decision of :mod:`shipyard.server.access` for a model (or one version)."""
    from shipyard.server.access import check_model, check_version

    ctx, access = ctx_of(request), principal_of(request).access
    if version is None:
        check_model(ctx, access, permission, name)
    else:
        check_version(ctx, access, permission, name, str(version))


def _source_files(request: Request, source: str) -> tuple[str, str, str | None]:
    """(run id, artifact-name prefix of the model folder, logged model id) of an MLflow source."""
    from shipyard.server.mlflow.logged_models import FILES_PREFIX

    compat = store(request)
    if source.startswith("models:/m-"):
        model = compat.get_logged_model(source.removeprefix("models:/"))
        if model.run_id is None:
            raise InvalidInputError(f"logged model {model.model_id} has no files")
        return model.run_id, f"{FILES_PREFIX}/{model.model_id}", model.model_id
    if source.startswith("runs:/"):
        run_id, _, path = source.removeprefix("runs:/").partition("/")
        return run_id, path.strip("/"), None
    if source.startswith("mlflow-artifacts:/"):
        from shipyard.server.mlflow.artifacts import locate

        run_id, name, root = locate(request, source.removeprefix("mlflow-artifacts:/"))
        model_id = root.rsplit("/", 1)[-1] if root else None
        return run_id, name, model_id
    raise InvalidInputError(
        f"model source {source[:200]!r} is not a logged model (models:/m-...), runs:/RUN/PATH or "
        "mlflow-artifacts:/ URI of this server"
    )


def build_package(request: Request, run_id: str, prefix: str, source: str) -> tuple[str, int, dict[str, Any]]:
    """A shipyard model package (``model.yaml``, flavor ``mlflow``, the MLflow folder under
    ``mlflow_model/``) of the run's artifacts below ``prefix``, stored as a ``dir`` artifact:
    (digest, size, manifest) -- the same package ``shipyard import mlflow`` and
    ``log_model(Path(folder))`` write, so ``shipyard serve`` and ``shipyard models`` read it.
    InvalidInputError when there is no ``MLmodel`` there."""
    import shutil
    import tempfile
    from pathlib import Path

    from shipyard.registry.flavors.mlflow_pyfunc import signature_from_mlmodel
    from shipyard.registry.package import write_package
    from shipyard.server.mlflow.artifacts import run_files

    ctx = ctx_of(request)
    folder = f"{prefix}/" if prefix else ""
    records = [r for r in run_files(request, run_id) if r.name.startswith(folder)]
    if not any(r.name == f"{folder}MLmodel" for r in records):
        raise InvalidInputError(
            f"no MLmodel file under {prefix or 'the root'} of run {run_id}; log a model there"
        )
    if len(records) > MAX_FILES or sum(r.size for r in records) > ctx.config.max_blob_bytes:
        raise InvalidInputError(
            f"the model folder is over {MAX_FILES} files or {ctx.config.max_blob_bytes} bytes"
        )
    cas = ctx.stores.artifacts.cas
    with tempfile.TemporaryDirectory(prefix="shipyard-mlflow-version-") as tmp:
        model_dir = Path(tmp) / "mlflow"
        for record in records:
            parts = record.name[len(folder) :].split("/")
            if any(p in ("", ".", "..") for p in parts):  # artifact names are checked on upload
                raise InvalidInputError(f"model file {record.name[:200]!r} is not a plain relative path")
            target = model_dir.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with cas.open_verified(record.digest, record.name) as reader, open(target, "wb") as out:
                shutil.copyfileobj(reader, out, 1 << 20)
                reader.verify()
        signature = signature_from_mlmodel(model_dir) or {
            "input_kind": "dataframe",
            "inputs": [],
            "outputs": {},
        }
        manifest = write_package(
            Path(tmp) / "package",
            model_dir,
            signature=signature,
            flavor="mlflow",
            source={"mlflow_source": source, "mlflow_run_id": run_id},
        )
        stored = ctx.stores.artifacts.put_path(Path(tmp) / "package")
    return stored.digest, stored.size, manifest


def create(request: Request, body: JsonBody) -> Response:
    from shipyard.core.clock import utcnow
    from shipyard.metadata.model_registry import ModelVersionCreate
    from shipyard.server.access import check_new_version

    ctx = ctx_of(request)
    name = text(body, "name", limit=250)
    source = text(body, "source", limit=2000)
    check_new_version(ctx, principal_of(request).access, name, None)
    run_id, prefix, model_id = _source_files(request, source)
    claimed_run = text(body, "run_id", required=False, limit=64)
    if claimed_run and claimed_run != run_id:
        raise InvalidInputError(f"run_id {claimed_run} is not the run of source {source[:200]!r}")
    read_run(request, run_id)
    digest, size, manifest = build_package(request, run_id, prefix, source)
    tags = {validate_key("tag", k): v for k, v in pairs(body, "tags", 100)}
    tags[SOURCE_TAG] = source
    if model_id:
        tags[MODEL_ID_TAG] = model_id
    version = ctx.registry.create_version(
        ModelVersionCreate(
            model_name=name,
            package_digest=digest,
            package_size=size,
            flavor="mlflow",
            created_by=principal_of(request).name,
            created_at=utcnow(),
            run_id=run_id,
            signature=dict(manifest["signature"]),
            description=text(body, "description", required=False),
            tags=tags,
            unsafe=bool(manifest["unsafe"]),
        )
    )
    return answer({"model_version": version_json(version)})


def get(request: Request) -> Response:
    params = query(request)
    name, version = text(params, "name", limit=250), number(params)
    check(request, "model:read", name)
    return answer({"model_version": version_json(ctx_of(request).registry.get_version(name, version))})


def delete(request: Request, body: JsonBody) -> Response:
    name, version = text(body, "name", limit=250), number(body)
    check(request, "model:delete", name, version)
    ctx_of(request).registry.delete_version(name, version)
    return answer({})


def search(request: Request) -> Response:
    """``name = '...'`` or ``run_id = '...'`` (what MLflow's client and UI send); one page."""
    from shipyard.server.mlflow.filters import PROMPT_TAG, clauses, decode_token, encode_token

    params = query(request)
    wanted = "model version search takes name = '...' or run_id = '...'"
    found_clauses = [
        c
        for c in clauses(text(params, "filter", required=False, limit=1000), wanted)
        if c != (f"tag:{PROMPT_TAG}", "!=", "true")
    ]
    if len(found_clauses) != 1 or found_clauses[0][0] not in ("name", "run_id") or found_clauses[0][1] != "=":
        raise InvalidInputError(f"invalid filter: {wanted}")
    field, _, value = found_clauses[0]
    limit = integer(params, "max_results", 1000) or 0
    if not 1 <= limit <= 10_000:
        raise InvalidInputError("max_results must be a whole number from 1 to 10000")
    offset = decode_token(text(params, "page_token", required=False, limit=200))
    registry = ctx_of(request).registry
    if field == "name":
        check(request, "model:read", value)
        try:
            found = registry.list_versions(value, limit=limit + 1, offset=offset)
        except NotFoundError:
            found = []
    else:
        read_run(request, value)
        found = registry.versions_from_run(value, limit=limit + 1, offset=offset)
    doc: dict[str, Any] = {"model_versions": [version_json(v) for v in found[:limit]]}
    if len(found) > limit:
        doc["next_page_token"] = encode_token(offset + limit)
    return answer(doc)


def set_tag(request: Request, body: JsonBody) -> Response:
    name, version = text(body, "name", limit=250), number(body)
    key = validate_key("tag", text(body, "key", limit=250))
    if key.startswith(HIDDEN):
        raise InvalidInputError(f"tags under {HIDDEN} are kept by the server")
    check(request, "model:write", name, version)
    ctx_of(request).registry.set_version_tags(name, version, {key: text(body, "value", required=False)})
    return answer({})


def delete_tag(request: Request, body: JsonBody) -> Response:
    name, version = text(body, "name", limit=250), number(body)
    key = validate_key("tag", text(body, "key", limit=250))
    check(request, "model:write", name, version)
    ctx_of(request).registry.delete_version_tag(name, version, key)
    return answer({})


def transition(request: Request, body: JsonBody) -> Response:
    from shipyard.core.clock import utcnow
    from shipyard.server.access import check_alias

    name, version = text(body, "name", limit=250), number(body)
    stage = text(body, "stage", limit=40).lower()
    if stage not in ("staging", "production", "archived", "none"):
        raise InvalidInputError(f"unknown stage {stage!r}; valid: Staging, Production, Archived, None")
    ctx, who = ctx_of(request), principal_of(request)
    registry = ctx.registry
    current = registry.get_version(name, version)
    targets = [stage] if stage in STAGES else [a for a in STAGES if a in current.aliases]
    for alias in targets:
        check_alias(ctx, who.access, "alias:set", name, alias)
    if stage in STAGES:
        registry.set_alias(name, stage, version, user=who.name, at=utcnow())
    else:
        for alias in targets:
            registry.delete_alias(name, alias, user=who.name, at=utcnow())
    return answer({"model_version": version_json(registry.get_version(name, version))})


def download_uri(request: Request) -> Response:
    params = query(request)
    name, version = text(params, "name", limit=250), number(params)
    check(request, "model:read", name)
    found = ctx_of(request).registry.get_version(name, version)
    source = found.tags.get(SOURCE_TAG)
    if source is None:
        raise NotFoundError(
            f"{name} version {version} was not registered through MLflow; it has no MLflow files"
        )
    if source.startswith("models:/m-"):
        from shipyard.server.mlflow.logged_models import model_uri

        source = model_uri(store(request).get_logged_model(source.removeprefix("models:/")))
    elif source.startswith("runs:/") and found.run_id:
        from shipyard.server.mlflow.common import experiment_id_of
        from shipyard.server.mlflow.convert import artifact_uri

        run = read_run(request, found.run_id)
        path = source.removeprefix("runs:/").partition("/")[2].strip("/")
        source = f"{artifact_uri(experiment_id_of(request, run), run.id)}/{path}"
    return answer({"artifact_uri": source})


ROUTES: list[tuple[str, str, Callable[..., Response]]] = [
    ("POST", "/model-versions/create", create),
    ("GET", "/model-versions/get", get),
    ("DELETE", "/model-versions/delete", delete),
    ("GET", "/model-versions/search", search),
    ("POST", "/model-versions/set-tag", set_tag),
    ("DELETE", "/model-versions/delete-tag", delete_tag),
    ("POST", "/model-versions/transition-stage", transition),
    ("GET", "/model-versions/get-download-uri", download_uri),
]
