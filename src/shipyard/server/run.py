"""``serve``: open the stores, bootstrap the admin, build the app and run it with uvicorn."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import ConfigurationError
from shipyard.security.network import check_no_auth_bind
from shipyard.server.app import ServerConfig

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastapi import FastAPI

    from shipyard.core.settings import Settings
    from shipyard.metadata.security import SecurityStore
    from shipyard.server.agents import AgentTarget
    from shipyard.tracking.stores import Stores


def build(settings: Settings, config: ServerConfig) -> tuple[FastAPI, Stores]:
    """The app over the stores ``settings`` name (the admin bootstrapped when auth is on)."""
    from shipyard.server.app import create_app

    if settings.metadata_uri.lower().startswith(("http://", "https://")):
        raise ConfigurationError(
            f"the server stores metadata in a database, not at {settings.metadata_uri}; "
            "set SHIPYARD_URI (or --backend-uri) to sqlite:///... or postgresql://... for the server"
        )
    from shipyard.server.ui.oidc import check_oidc_settings

    check_oidc_settings(settings)  # before anything is opened: a half-configured SSO stops the start
    if settings.ci_trust_file is not None:  # a wrong CI trust file stops the start too
        from shipyard.server.ci_oidc import load_trust_rules

        load_trust_rules(settings.ci_trust_file)
    stores, security = prepare(settings, config)
    try:
        return create_app(settings, stores, config=config, security=security), stores
    except BaseException:
        stores.close()
        raise


def prepare(settings: Settings, config: ServerConfig) -> tuple[Stores, SecurityStore]:
    """What a start changes in the database: migrations (when the stores open) and the admin
    bootstrap. Both are safe when several servers start at once on one database."""
    from shipyard.metadata.security import open_security_store
    from shipyard.server.accounts import bootstrap_admin
    from shipyard.tracking.stores import open_stores

    stores = open_stores(settings)
    try:
        security = open_security_store(stores.metadata)
        if config.auth:
            bootstrap_admin(security, os.environ.get("SHIPYARD_ADMIN_TOKEN") or None, _say)
    except BaseException:
        stores.close()
        raise
    return stores, security


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def uvicorn_options(forwarded_allow_ips: tuple[str, ...] = ()) -> dict[str, Any]:
    """How the server runs under uvicorn: no access log or server header, a long keep-alive, and
    proxy headers believed only from ``forwarded_allow_ips`` (none by default: the failed-login
    throttle keys on the peer address, which ``X-Forwarded-For`` must not choose)."""
    from shipyard.security.network import proxy_options

    return {
        "access_log": False,
        "server_header": False,
        "timeout_keep_alive": 75,  # clients keep a pool; closing idle connections early races them
        **proxy_options(forwarded_allow_ips),
    }


def _freeze_startup_objects() -> None:
    """Move what start-up built (modules, the app, its routes, the stores) out of the collector's
    reach: a request that builds many objects (a search answering thousands of runs) otherwise
    triggers full collections that walk all of them every time (a third of such a request).
    Garbage is collected first, so none is kept for good."""
    import gc

    gc.collect()
    gc.freeze()


def serve(
    settings: Settings,
    host: str,
    port: int,
    config: ServerConfig,
    *,
    log_level: str = "info",
    forwarded_allow_ips: tuple[str, ...] = (),
    agents: Sequence[AgentTarget] = (),
) -> None:
    """Serve until interrupted; with ``agents``, also run those environments' deployment agents
    (children, see :mod:`shipyard.server.agents`), stopped after the server."""
    import uvicorn

    from shipyard.server.agents import AgentChildren

    if not config.auth:
        check_no_auth_bind(host)
    app, stores = build(settings, config)
    _freeze_startup_objects()
    mode = "with token authentication" if config.auth else "WITHOUT authentication (loopback only)"
    uri = settings.metadata_uri
    shown = uri.split("://", 1)[0] + "://..." if "@" in uri else uri  # never print a password
    _say(f"shipyard server on http://{host}:{port} {mode}; metadata: {shown}")
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(settings.home),
        "SHIPYARD_URI": settings.metadata_uri,
        "SHIPYARD_ARTIFACTS": settings.artifact_root,
    }
    children = AgentChildren(agents, env, _say)
    if agents:
        # uvicorn shuts down on SIGTERM, restores the handler it found and raises the signal again:
        # with this one that ends in SystemExit, so the agents below are stopped (they drain)
        # instead of the process dying with them orphaned.
        import signal

        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        children.start()
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            **uvicorn_options(forwarded_allow_ips),
        )
    finally:
        children.stop()
        stores.close()
