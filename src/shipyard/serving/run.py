"""Run a serving app with uvicorn (httptools + uvloop when installed); ``--workers N`` runs N
processes on one port, each loading the model (metrics and queues are per process)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from shipyard.security.network import check_no_auth_bind
from shipyard.serving.config import Route, ServingConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

    from shipyard.core.settings import Settings

CONFIG_ENV = "SHIPYARD_SERVING_CONFIG"


def config_to_json(config: ServingConfig) -> str:
    return json.dumps(dataclasses.asdict(config))


def config_from_json(text: str) -> ServingConfig:
    data: dict[str, Any] = json.loads(text)
    data["routes"] = tuple(Route(**r) for r in data.get("routes", ()))
    if data.get("allowed_hosts") is not None:
        data["allowed_hosts"] = tuple(data["allowed_hosts"])
    data["trusted"] = tuple(data.get("trusted", ()))
    data["secrets"] = tuple(data.get("secrets", ()))
    data["features"] = tuple(data.get("features", ()))
    return ServingConfig(**data)


def app_from_env() -> FastAPI:
    """The factory each uvicorn worker process calls (``--workers`` > 1)."""
    from shipyard.core.settings import load_settings
    from shipyard.serving.app import create_serving_app
    from shipyard.tracking.stores import open_stores

    config = config_from_json(os.environ[CONFIG_ENV])
    return create_serving_app(config, stores=open_stores(load_settings()))


def uvicorn_options(forwarded_allow_ips: tuple[str, ...] = ()) -> dict[str, Any]:
    """How the service runs under uvicorn: no access log or server header; proxy headers believed
    only from ``forwarded_allow_ips`` (:func:`shipyard.security.network.proxy_options`); with
    httptools, the protocol that holds the admission gate (:mod:`shipyard.serving.protocol`)."""
    import importlib.util

    from shipyard.security.network import proxy_options

    options: dict[str, Any] = {"access_log": False, "server_header": False, "timeout_keep_alive": 30}
    options.update(proxy_options(forwarded_allow_ips))
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:  # the admission gate in the protocol
        from shipyard.serving.protocol import GatedHttpToolsProtocol

        options["http"] = GatedHttpToolsProtocol
    return options


def serve(
    settings: Settings,
    config: ServingConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "warning",
    forwarded_allow_ips: tuple[str, ...] = (),
) -> None:
    """Serve until interrupted. ``--no-auth`` is refused on anything but loopback.
    ``forwarded_allow_ips``: proxies whose ``X-Forwarded-For`` is believed (none by default)."""
    import uvicorn

    from shipyard.serving.app import create_serving_app
    from shipyard.serving.models import load_variants
    from shipyard.tracking.stores import open_stores

    if not config.auth:
        check_no_auth_bind(host)
    stores = open_stores(settings)
    try:
        mode = "with token authentication" if config.auth else "WITHOUT authentication (loopback only)"
        if workers > 1:
            variants, _ = load_variants(stores, config)  # fail here, not in N workers
            if config.features:
                from shipyard.serving.features import open_entity_lookup

                open_entity_lookup(config, stores, variants[0].model.signature, None).close()
            os.environ[CONFIG_ENV] = config_to_json(config)
            _say(
                f"serving {config.model_uri} (version {variants[0].label}) on http://{host}:{port} {mode}, "
                f"{workers} workers"
            )
            uvicorn.run(
                "shipyard.serving.run:app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level=log_level,
                **uvicorn_options(forwarded_allow_ips),
            )
            return
        app = create_serving_app(config, stores=stores)
        label = app.state.deployment.primary.label
        _say(f"serving {config.model_uri} (version {label}) on http://{host}:{port} {mode}")
        options = uvicorn_options(forwarded_allow_ips)
        uvicorn.run(app, host=host, port=port, log_level=log_level, **options)
    finally:
        stores.close()


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
