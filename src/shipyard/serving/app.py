"""``create_serving_app``: the FastAPI app of one deployment (no module globals).

Routes: ``POST /predict``, ``POST /feedback`` (labels; a writer's token), ``GET /health`` (alive),
``GET /ready`` (models loaded and warmed up), ``GET /metrics`` (Prometheus), ``GET /docs`` +
``/openapi.json`` (a token like the rest; the request body from the model's signature, with an
example made of type placeholders — never rows of the training data). Status codes of
``/predict``: 200; 401 no/invalid token; 413 body over ``max_body_bytes``; 415 not
``application/json``; 421 a Host the service does not answer; 422 body does not match the
signature, or values the model cannot compute on (the message names the column,
:mod:`shipyard.serving.finite`); 429 too many failed authentications (``Retry-After``); 500 the
model failed; 503 not ready or overloaded (with ``Retry-After``); 504 no answer within
``timeout_s``. Every route's statuses are in the OpenAPI document (:mod:`shipyard.serving.contract`).
Every answer carries ``X-Content-Type-Options: nosniff`` (:class:`shipyard.serving.guard.ServingGuard`).

Layers, outermost first: the admission gate (:mod:`shipyard.serving.admission`: a prebuilt 503
beyond ``in_flight_limit`` requests, before anything else runs; under ``shipyard serve`` in the HTTP
protocol itself, :mod:`shipyard.serving.protocol`), the guard (Host, token), the routes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError
from shipyard.serving.config import ServingConfig
from shipyard.serving.guard import OPEN_PATHS, TokenCheck, error_response, server_check, store_check

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from starlette.types import Receive, Scope, Send

    from shipyard.features.online.base import OnlineStore
    from shipyard.metadata.security import SecurityStore
    from shipyard.serving.admission import Admission
    from shipyard.serving.deployment import Deployment
    from shipyard.serving.features import EntityModels
    from shipyard.serving.models import Variant
    from shipyard.tracking.stores import Stores

log = logging.getLogger("shipyard.serving")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class _RequestIds:
    """Request ids: the client's ``X-Request-ID`` when valid, else a random per-app prefix and a
    counter (unique without a syscall per request)."""

    def __init__(self) -> None:
        self.prefix = uuid.uuid4().hex[:16]
        self.counter = itertools.count(1)

    def __call__(self, request: Request) -> str:
        given = request.headers.get("x-request-id")
        if given and _REQUEST_ID_RE.match(given):
            return given
        return f"{self.prefix}{next(self.counter):012x}"


def _counters(*counters: Any) -> Callable[[], None]:
    """One call that increments each of ``counters`` (bound metric children)."""

    def inc() -> None:
        for counter in counters:
            counter.inc()

    return inc


class ServingApp(FastAPI):
    """The FastAPI app of a deployment, whose ``__call__`` goes through the admission gate first,
    before FastAPI's and Starlette's own middleware (:mod:`shipyard.serving.admission`); a request
    the HTTP protocol already admitted passes (:mod:`shipyard.serving.protocol`)."""

    admission: Admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.admission(scope, receive, send, super().__call__)


def _schemas() -> Any:
    from pydantic import BaseModel

    class PredictResponse(BaseModel):
        request_id: str
        model: str
        version: int | None
        predictions: list[Any]
        probabilities: list[list[float | None]] | None = None

    return PredictResponse


def create_serving_app(
    config: ServingConfig,
    *,
    stores: Stores | None = None,
    variants: list[Variant] | None = None,
    shadow: Variant | None = None,
    security: SecurityStore | None = None,
    online: OnlineStore | None = None,
) -> FastAPI:
    """The app serving ``config.model_uri`` (loaded from ``stores``), or the given ``variants``.

    With ``config.auth`` (the default) requests need a platform token, checked in ``security``
    (default: the security store of ``stores``' metadata database). Models are loaded here (so a
    bad URI or an unsafe model fails at once) and warmed up when the app starts. With
    ``config.features`` the views are resolved and the online store opened here too (``online``:
    an open store to use instead of ``config.online_store``; the caller closes it).
    """
    from shipyard.serving.admission import Admission
    from shipyard.serving.contract import install_methods
    from shipyard.serving.deployment import Deployment
    from shipyard.serving.guard import ServingGuard, TokenVerifier
    from shipyard.serving.metrics import ServingMetrics
    from shipyard.serving.predlog import PredictionLogWriter, log_keys, log_sources

    if config.secrets:
        if stores is None:
            raise InvalidInputError("a deployment with secrets needs stores to read them from")
        from shipyard.serving.secrets import expose_secrets

        expose_secrets(config, stores)  # before the model loads: its code may read them
    if variants is None:
        if stores is None:
            raise InvalidInputError("create_serving_app needs stores to load the model, or variants")
        from shipyard.serving.models import load_variants

        variants, shadow = load_variants(stores, config)
    entities = None
    if config.features:
        from shipyard.serving.features import open_entity_lookup

        primary_variant = variants[0]
        entities = open_entity_lookup(
            config, stores, primary_variant.model.signature, online, primary_variant.name
        )
    verifier = throttle = None
    if config.auth:
        from shipyard.security.throttle import AuthThrottle

        verifier = TokenVerifier(_token_check(stores, security), config.token_cache_s)
        throttle = AuthThrottle(config.auth_failures, config.auth_window_s)
    metrics = ServingMetrics()
    writer = None
    if config.log_dir:
        writer = PredictionLogWriter(
            config.log_dir,
            config.deployment_name,
            metrics,
            max_queue=config.log_queue,
            flush_s=config.log_flush_s,
            segment_rows=config.log_segment_rows,
            sources=None if entities is None else log_sources(entities.lookup.columns),
            keys=None
            if entities is None
            else log_keys(entities.lookup.key_views(), log_sources(entities.lookup.columns)),
        )
    admission = Admission(
        config.in_flight_limit,
        config.retry_after_s,
        _counters(
            metrics.rejected.labels("overloaded", "503"),
            metrics.requests.labels("-", "503"),  # refused before routing: no version
            metrics.errors.labels("-", "overloaded"),
        ),
        floor=config.max_batch_size,
    )
    deployment = Deployment(config, variants, shadow, metrics, writer, on_wait=admission.observe)

    watcher = _experiment_watcher(config, stores, deployment)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await deployment.start()
        task = None if watcher is None else asyncio.get_running_loop().create_task(watcher())
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            await deployment.stop()
            if entities is not None:
                entities.close()

    primary = deployment.primary
    app = ServingApp(
        title=f"{primary.name} (shipyard serving)",
        version=primary.label,
        description=(
            f"Predictions from {primary.model.uri}. Send JSON records to POST /predict (as the schema "
            'says), or columns: {"columns": {"<name>": [values, ...], ...}} with every column of the '
            "signature and all of the same length."
        ),
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # FastAPI's OpenTelemetry middleware costs more than the model here; /metrics has ours
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.deployment = deployment
    app.admission = app.state.admission = admission
    _add_routes(app, deployment, admission, entities)
    allow = install_methods(app)
    _install_errors(app, allow)
    _install_openapi(app, deployment, entities)
    app.add_middleware(ServingGuard, config=config, verifier=verifier, throttle=throttle, metrics=metrics)
    return app


def _experiment_watcher(
    config: ServingConfig, stores: Stores | None, deployment: Deployment
) -> Callable[[], Any] | None:
    """With ``--experiment`` and a project environment to read it in: the guardrail-stop watcher."""
    if config.experiment is None or stores is None:
        return None
    project, environment = stores.settings.project, stores.settings.environment
    if not project or not environment:
        return None
    from shipyard.serving.experiment import store_share, watch

    read = store_share(stores, project, environment, config.experiment)
    return lambda: watch(deployment, read, config.experiment_poll_s)


def _add_routes(
    app: FastAPI, deployment: Deployment, admission: Admission, entities: EntityModels | None
) -> None:
    import asyncio

    import orjson
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from shipyard.experiments.armtag import verified
    from shipyard.serving.batcher import Overloaded
    from shipyard.serving.deployment import PredictTimeout, utc_now
    from shipyard.serving.experiment import assignment_unit
    from shipyard.serving.features import entity_records, is_entities_body, parse_entities
    from shipyard.serving.feedback import add_feedback_route
    from shipyard.serving.finite import is_overflow, non_finite_row, overflow_message
    from shipyard.serving.schema import build_models, decode, parse_data

    config = deployment.config
    metrics = deployment.metrics
    models = build_models(deployment.primary.model.signature, deployment.primary.name)

    async def online_rows(
        rid: str, data: dict[str, Any]
    ) -> Response | tuple[dict[str, list[Any]], int, dict[str, list[Any]]]:
        """The model's input columns of an entities body, read from the online store, and the
        entities' join keys (column by column, for the prediction log)."""
        from shipyard.features.lookup import MissingEntity  # loaded with the entities: no cost here

        try:
            keys = parse_entities(entities, data)
        except InvalidInputError as exc:
            return fail(422, "invalid_input", exc.message, rid)
        assert entities is not None
        try:
            records = await asyncio.to_thread(entity_records, entities, keys)
            columns, count = parse_data(models, records)
            return columns, count, {k: [entity[k] for entity in keys] for k in entities.lookup.join_keys}
        except MissingEntity as exc:
            return fail(404, "entity_not_found", exc.message, rid)
        except InvalidInputError as exc:
            return fail(422, "invalid_input", f"the online values do not fit the model: {exc.message}", rid)
        except Exception as exc:  # the online store is down or refuses: the client may retry
            log.error("online feature lookup for %s failed", rid, exc_info=exc)
            message = "the online feature store cannot be read now; retry shortly"
            return fail(503, "features_unavailable", message, rid, **retry)

    retry = {"Retry-After": str(config.retry_after_s)}
    predict_response = _schemas()
    documented: dict[int | str, dict[str, Any]] = {  # the errors: contract.document_errors
        200: {"model": predict_response, "description": "predictions, in the order of the input rows"},
    }

    request_id = _RequestIds()
    router_key = bytes.fromhex(config.router_key) if config.router_key else None
    ok_requests: dict[str, Any] = {}
    ok_latency: dict[str, Any] = {}

    def fail(status: int, code: str, message: str, rid: str, version: str = "-", **headers: str) -> Response:
        metrics.requests.labels(version, str(status)).inc()
        metrics.errors.labels(version, code).inc()
        if status in (413, 415, 503):  # refused before the model saw it
            metrics.reject(code, status)
        return error_response(status, code, message, {"X-Request-ID": rid, **headers})

    @app.post("/predict", responses=documented, summary="Predict on JSON records or columns")
    async def predict(request: Request) -> Response:  # documents the route; requests go to the one below
        deployment.arriving += 1  # the micro-batcher waits for requests still being read
        counted = [True]
        try:
            return await handle(request, counted)
        finally:
            if counted[0]:
                deployment.arriving -= 1

    async def handle(request: Request, counted: list[bool]) -> Response:
        started = time.perf_counter()
        ts = utc_now()
        rid = request_id(request)
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            return fail(415, "unsupported_media_type", "send the body as application/json", rid)
        limit = config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return fail(413, "payload_too_large", f"request body is over the limit of {limit} bytes", rid)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return fail(413, "payload_too_large", f"request body is over the limit of {limit} bytes", rid)
            chunks.append(chunk)
        if not deployment.ready:
            return fail(503, "not_ready", "the model is still loading", rid, **retry)
        try:
            data = decode(b"".join(chunks))
            parsed = None if is_entities_body(data) else parse_data(models, data)
        except InvalidInputError as exc:
            return fail(422, "invalid_input", exc.message, rid)
        keys = None
        if parsed is None:
            fetched = await online_rows(rid, data)
            if isinstance(fetched, Response):
                return fetched
            parsed, keys = fetched[:2], fetched[2]
        columns, rows = parsed
        unit = rid
        if config.assign_key is not None:
            found = assignment_unit(
                config.assign_key, columns, keys, request.query_params.get(config.assign_key)
            )
            if found is None:
                key = config.assign_key
                message = (
                    f"this deployment assigns experiment traffic by {key!r}: send it as an input "
                    f"column or as ?{key}=VALUE on the URL (a string or an integer)"
                )
                return fail(400, "missing_assignment_key", message, rid)
            unit = found
        # the arm the agent's router assigned (signed: a client cannot choose it), for the log
        tag = verified(router_key, request.headers, rid) if router_key is not None else None
        counted[0] = False
        deployment.arriving -= 1  # no await until its rows are queued
        try:
            result = await deployment.predict(rid, ts, started, columns, rows, keys, unit, tag)
        except Overloaded:
            version = deployment.route(unit).label  # routing is deterministic: the version it went to
            return fail(503, "overloaded", "the server is at capacity; retry shortly", rid, version, **retry)
        except PredictTimeout:
            message = f"the model did not answer within {config.timeout_s:g} s"
            deployment.log_failure(rid, ts, started, deployment.route(unit), columns, rows, tag)
            return fail(504, "timeout", message, rid, deployment.route(unit).label)
        except Exception as exc:
            if is_overflow(exc):  # finite input the model cannot compute on: the input's fault
                message = overflow_message(columns, None, f"the model failed with {type(exc).__name__}")
                return fail(422, "invalid_input", message, rid, deployment.route(unit).label)
            log.error("predict %s failed", rid, exc_info=exc)
            deployment.log_failure(rid, ts, started, deployment.route(unit), columns, rows, tag)
            message = "the model failed on this input; the server log has details"
            return fail(500, "model_error", message, rid, deployment.route(unit).label)
        variant = result.variant
        bad = non_finite_row(result.predictions, result.proba)
        if bad is not None:
            message = overflow_message(columns, bad, "the model's output is not finite")
            return fail(422, "invalid_input", message, rid, variant.label)
        body: dict[str, Any] = {
            "request_id": rid,
            "model": variant.name,
            "version": variant.version,
            "predictions": result.predictions,
        }
        if result.proba is not None:
            body["probabilities"] = result.proba
        label = variant.label
        if label not in ok_requests:
            ok_requests[label] = metrics.requests.labels(label, "200")
            ok_latency[label] = metrics.latency.labels(label)
        ok_requests[label].inc()
        ok_latency[label].observe(time.perf_counter() - started)
        return Response(
            orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
            media_type="application/json",
            headers={"X-Request-ID": rid, "X-Model-Version": variant.label},
        )

    # the same handler as a plain Starlette route, matched first: FastAPI's per-request dependency
    # resolution costs about a fifth of a request here, and the handler reads the body itself
    app.router.routes.insert(0, Route("/predict", predict, methods=["POST"]))

    add_feedback_route(app, config, metrics.reject)

    @app.get("/health", summary="The process is alive")
    async def health() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/ready", summary="Models loaded and warmed up")
    async def ready() -> Response:
        if not deployment.ready:
            metrics.reject("not_ready", 503)
            return error_response(503, "not_ready", "the model is still loading", retry)
        answer: dict[str, Any] = {"status": "ready", "versions": [v.label for v in deployment.variants]}
        if entities is not None:
            answer["feature_views"] = entities.lookup.lineage()
        return Response(orjson.dumps(answer), media_type="application/json")

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus() -> Response:
        for label, batcher in deployment.batchers.items():
            metrics.queue_depth.labels(label).set(batcher.depth)
        metrics.in_flight.set(admission.in_flight)
        metrics.admission_limit.set(admission.limit)
        data, ctype = metrics.render()
        return Response(data, media_type=ctype)


def _install_errors(app: FastAPI, allow: dict[str, str]) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and request.url.path in allow:
            headers["Allow"] = allow[request.url.path]  # every method of the path, OPTIONS included
            message = f"{request.method} is not allowed here; use {allow[request.url.path]}"
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), message, headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        return error_response(422, "invalid_input", "invalid request")

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "internal server error; the server log has the details")

    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)


def _install_openapi(app: FastAPI, deployment: Deployment, entities: EntityModels | None) -> None:
    from fastapi.openapi.utils import get_openapi

    from shipyard.serving.admission import EXEMPT_PATHS
    from shipyard.serving.contract import document_errors
    from shipyard.serving.schema import build_models, example_row

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        primary = deployment.primary
        signature = primary.model.signature
        # the example is made of type placeholders: the package's input example is training data
        extra = None if entities is None else entities.body_model
        body, defs = build_models(signature, primary.name, extra).openapi([example_row(signature)])
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {}).update(defs)
        post = schema["paths"]["/predict"]["post"]
        post["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        document_errors(schema, auth=deployment.config.auth, open_paths=OPEN_PATHS, exempt=EXEMPT_PATHS)
        if deployment.config.auth:
            components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            for path, item in schema["paths"].items():
                if path not in OPEN_PATHS:
                    for operation in item.values():
                        operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _token_check(stores: Stores | None, security: SecurityStore | None) -> TokenCheck:
    """Tokens are checked in the security store next to the SQL metadata, or, when SHIPYARD_URI
    points at a shipyard server, by that server."""
    if security is not None:
        return store_check(security)
    if stores is None:
        raise InvalidInputError("token authentication needs the stores (or a security store)")
    from shipyard.metadata.rest.store import RestMetadataStore

    if isinstance(stores.metadata, RestMetadataStore):
        return server_check(stores.metadata.url)
    from shipyard.metadata.security import open_security_store

    return store_check(open_security_store(stores.metadata))
