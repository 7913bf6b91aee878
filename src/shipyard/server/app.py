"""``create_app(settings, stores)``: the REST API (and the web UI's router when it is installed).

Everything the routes need hangs off one :class:`ServerContext` on ``app.state.ctx`` (no module
globals). Authentication, authorization, body limits, content types and auditing happen in one
place, :class:`shipyard.server.auth.GuardMiddleware`, driven by the permission table in
:mod:`shipyard.server.permissions`.

The web UI hook: when the module ``shipyard.server.ui`` exists and exposes ``router`` (an
``APIRouter``), it is included as is. Its routes must appear in the permission table: the UI module
adds its own entries with a ``PERMISSIONS`` mapping ``{(METHOD, "/path/{template}"): Rule}``;
a route missing from the table is refused (deny by default) and fails ``tests/server/test_routes_auth.py``.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from shipyard.core.errors import ConfigurationError
from shipyard.server.permissions import RouteKey, Rule, api_permissions

if TYPE_CHECKING:
    from shipyard.core.settings import Settings
    from shipyard.features.online.base import OnlineStore
    from shipyard.metadata.datasets import DatasetStore
    from shipyard.metadata.delivery import DeliveryStore
    from shipyard.metadata.features import FeatureRecords
    from shipyard.metadata.mlflow_compat import MlflowCompatStore
    from shipyard.metadata.model_registry import RegistryStore
    from shipyard.metadata.monitoring import MonitoringRecords
    from shipyard.metadata.policies import PolicyStore
    from shipyard.metadata.security import SecurityStore
    from shipyard.metadata.sql.idempotency_store import SqlIdempotencyStore
    from shipyard.security.throttle import AuthThrottle
    from shipyard.server.audit import AuditLog
    from shipyard.server.auth import Authenticator
    from shipyard.server.platform_metrics import PlatformMetrics
    from shipyard.tracking.stores import Stores

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """Knobs of one server process (``shipyard server`` flags)."""

    auth: bool = True  # False only with --no-auth, on loopback
    max_json_bytes: int = 64 * MiB  # JSON request bodies past this answer 413
    max_blob_bytes: int = 10 * 1024 * MiB  # artifact uploads past this answer 413
    # how long a verified token is trusted without a database read (at most MAX_TOKEN_CACHE_S);
    # revoking through this server clears the cache at once
    token_cache_s: float = 2.0
    monitor_tick_s: float | None = None  # evaluate declared monitors on their schedules (--monitors)
    # Host names answered (--allowed-hosts); None: any with auth, only loopback names with --no-auth
    allowed_hosts: tuple[str, ...] | None = None
    # failed authentications per client address, and per token prefix, in auth_window_s before 429
    auth_failures: int = 20
    auth_window_s: float = 60.0
    # /metrics: how long a scrape waits for the database's counts (then answers the last ones),
    # and how long one reading of them is reused
    metrics_timeout_s: float = 2.0
    metrics_cache_s: float = 5.0
    # how long a POST's Idempotency-Key and its stored answer are kept (server/idempotency.py)
    idempotency_ttl_s: float = 24 * 3600.0

    def __post_init__(self) -> None:
        from shipyard.security.network import check_allowed_hosts
        from shipyard.security.tokens import MAX_TOKEN_CACHE_S

        if not 0 <= self.token_cache_s <= MAX_TOKEN_CACHE_S:
            raise ConfigurationError(
                f"token_cache_s={self.token_cache_s:g}: a token cache must be 0 to {MAX_TOKEN_CACHE_S:g} "
                "seconds (a revoked token keeps working that long)"
            )
        if self.idempotency_ttl_s <= 0:
            raise ConfigurationError("the Idempotency-Key TTL must be more than 0 seconds")
        if self.auth_failures < 1 or self.auth_window_s <= 0:
            raise ConfigurationError("--max-auth-failures must be at least 1 and the window more than 0 s")
        check_allowed_hosts(self.allowed_hosts, auth=self.auth)
        if self.metrics_timeout_s <= 0 or self.metrics_cache_s < 0:
            raise ConfigurationError("the metrics timeout must be more than 0 s and the cache 0 s or more")


@dataclass
class ServerContext:
    """What routes work on: settings, stores, the registry and security stores, the config."""

    settings: Settings
    stores: Stores
    config: ServerConfig
    security: SecurityStore | None = None
    authenticator: Authenticator | None = field(default=None, repr=False)
    throttle: AuthThrottle | None = field(default=None, repr=False)  # failed authentications
    audit: AuditLog | None = field(default=None, repr=False)
    _registry: RegistryStore | None = field(default=None, repr=False)
    _monitoring: MonitoringRecords | None = field(default=None, repr=False)
    _features: FeatureRecords | None = field(default=None, repr=False)
    _datasets: DatasetStore | None = field(default=None, repr=False)
    _policies: PolicyStore | None = field(default=None, repr=False)
    _delivery: DeliveryStore | None = field(default=None, repr=False)
    _mlflow: MlflowCompatStore | None = field(default=None, repr=False)
    # run id -> (read at, owner, namespace): both are fixed at creation, so the per-object check of
    # every metric batch need not load the whole run (server/access.py; evicted on delete)
    run_owners: dict[str, tuple[float, str, str]] = field(default_factory=dict, repr=False)
    metrics: PlatformMetrics | None = field(default=None, repr=False)  # /metrics (platform_metrics.py)
    idempotency_purged_at: float = field(default=float("-inf"), repr=False)  # monotonic seconds
    _idempotency: SqlIdempotencyStore | None = field(default=None, repr=False)
    _online: OnlineStore | None = field(default=None, repr=False)
    _online_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def idempotency(self) -> SqlIdempotencyStore | None:
        """Where Idempotency-Key answers are kept; None (the header is ignored) off SQL."""
        if self._idempotency is None:
            from shipyard.metadata.sql.store import SqlMetadataStore

            if not isinstance(self.stores.metadata, SqlMetadataStore):
                return None
            from shipyard.metadata.sql.idempotency_store import SqlIdempotencyStore

            self._idempotency = SqlIdempotencyStore(self.stores.metadata)
        return self._idempotency

    @property
    def registry(self) -> RegistryStore:
        if self._registry is None:
            from shipyard.metadata.model_registry import open_registry_store

            self._registry = open_registry_store(self.stores.metadata)
        return self._registry

    @property
    def datasets(self) -> DatasetStore:
        if self._datasets is None:
            from shipyard.metadata.datasets import open_dataset_store

            self._datasets = open_dataset_store(self.stores.metadata)
        return self._datasets

    @property
    def monitoring(self) -> MonitoringRecords:
        if self._monitoring is None:
            from shipyard.metadata.monitoring import open_monitoring_records

            self._monitoring = open_monitoring_records(self.stores.metadata)
        return self._monitoring

    @property
    def features(self) -> FeatureRecords:
        if self._features is None:
            from shipyard.metadata.features import open_feature_records

            self._features = open_feature_records(self.stores.metadata)
        return self._features

    def online_store(self) -> OnlineStore | None:
        """The online store ``settings.online_store`` names (None: none), opened on first use and
        kept for the app's life (the feature pages read freshness from it); a failed open is
        raised and tried again on the next call."""
        if self.settings.online_store is None:
            return None
        with self._online_lock:
            if self._online is None:
                from shipyard.features.online.registry import open_online_store

                self._online = open_online_store(self.settings.online_store)
            return self._online

    def close_online(self) -> None:
        with self._online_lock:
            if self._online is not None:
                self._online.close()
                self._online = None

    @property
    def delivery(self) -> DeliveryStore:
        if self._delivery is None:
            from shipyard.metadata.delivery import open_delivery_store

            self._delivery = open_delivery_store(self.stores.metadata)
        return self._delivery

    @property
    def mlflow(self) -> MlflowCompatStore:
        """Experiments, soft-deleted runs and run inputs of the MLflow API (server/mlflow/)."""
        if self._mlflow is None:
            from shipyard.metadata.mlflow_compat import open_mlflow_store

            self._mlflow = open_mlflow_store(self.stores.metadata)
        return self._mlflow

    @property
    def policies(self) -> PolicyStore:
        if self._policies is None:
            from shipyard.metadata.policies import open_policy_store

            self._policies = open_policy_store(self.stores.metadata)
        return self._policies


def _ui_module() -> ModuleType | None:
    try:
        return importlib.import_module("shipyard.server.ui")
    except ModuleNotFoundError as exc:
        if exc.name not in ("shipyard.server.ui",):
            raise  # a missing dependency inside the UI package is a real error
        return None


def create_app(
    settings: Settings,
    stores: Stores,
    *,
    config: ServerConfig | None = None,
    security: SecurityStore | None = None,
) -> FastAPI:
    """The ASGI app over ``stores``. ``security`` holds users, tokens and audit events; it is
    opened from ``stores.metadata`` when not given (the metadata store must then be SQL)."""
    from shipyard.server.auth import Authenticator, GuardMiddleware
    from shipyard.server.errors import install_error_handlers
    from shipyard.server.routers import add_routes, include_routers

    config = config or ServerConfig()
    if security is None:
        from shipyard.metadata.security import open_security_store

        security = open_security_store(stores.metadata)
    from shipyard.server.audit import AuditLog

    ctx = ServerContext(settings=settings, stores=stores, config=config, security=security)
    ctx.authenticator = Authenticator(ctx)
    if config.auth:
        from shipyard.security.throttle import AuthThrottle

        ctx.throttle = AuthThrottle(config.auth_failures, config.auth_window_s)
    audit = ctx.audit = AuditLog(security)
    from shipyard.server.platform_hooks import install_metrics

    metrics = ctx.metrics = install_metrics(ctx)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        from shipyard.server.platform_hooks import watch_database

        scheduler = None
        unwatch = watch_database(ctx, metrics)  # query latency and errors for /metrics
        if config.monitor_tick_s is not None:
            from functools import partial

            from shipyard.monitoring.scheduler import MonitorScheduler

            scheduler = MonitorScheduler(
                stores,
                tick_s=config.monitor_tick_s,
                on_run=partial(metrics.note_monitor_run, "scheduler"),
                on_error=partial(metrics.note_monitor_error, "scheduler"),
            )
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            unwatch()
            ctx.close_online()
            audit.close()  # write what is queued before the process ends

    app = FastAPI(
        lifespan=lifespan,
        title="shipyard",
        version=_version(),
        description="The shipyard REST API. Every route but /health needs `Authorization: Bearer <token>`.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    permissions: dict[RouteKey, Rule] = dict(api_permissions())
    include_routers(app)
    ui = _ui_module()
    if ui is not None and hasattr(ui, "router"):
        add_routes(app, ui.router)
        permissions.update(getattr(ui, "PERMISSIONS", {}))
    app.state.permissions = permissions
    from shipyard.server.mlflow.errors import MLFLOW_PREFIXES
    from shipyard.server.prefix_dispatch import install_prefix_dispatch

    install_prefix_dispatch(app, MLFLOW_PREFIXES)  # MLflow requests skip the native routes' patterns
    from shipyard.server.openapi import install_openapi

    install_openapi(app)  # every route's error answers, derived from the permission table
    install_error_handlers(app)
    app.add_middleware(GuardMiddleware)
    from shipyard.server.mlflow.errors import MlflowErrorShape

    app.add_middleware(MlflowErrorShape)  # MLflow paths answer errors in MLflow's shape
    from shipyard.server.http_metrics import HttpMetricsMiddleware

    app.add_middleware(HttpMetricsMiddleware)  # outermost: it times and counts every answer
    _document_idempotency(app)
    return app


def _document_idempotency(app: FastAPI) -> None:
    """The OpenAPI schema declares ``Idempotency-Key`` on POST routes (server/idempotency.py)."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from shipyard.server.idempotency import document

            app.openapi_schema = document(base())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    import shipyard

    version: Any = getattr(shipyard, "__version__", "0")
    return str(version)
