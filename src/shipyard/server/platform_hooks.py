"""How ``create_app`` wires the platform metrics (kept here so app.py holds only the calls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.server.app import ServerContext
    from shipyard.server.platform_metrics import PlatformMetrics


def install_metrics(ctx: ServerContext) -> PlatformMetrics:
    """The app's :class:`PlatformMetrics`, with the scrape-time reading of the stores registered."""
    from shipyard.server.platform_metrics import PlatformMetrics
    from shipyard.server.platform_scrape import StoreCollector

    metrics = PlatformMetrics()
    config = ctx.config
    metrics.registry.register(StoreCollector(ctx, config.metrics_timeout_s, config.metrics_cache_s))
    return metrics


def watch_database(ctx: ServerContext, metrics: PlatformMetrics) -> Callable[[], None]:
    """Attach the query listeners to the metadata store's engine (SQL stores only); returns the
    function that detaches them."""
    from shipyard.metadata.sql.store import SqlMetadataStore
    from shipyard.server.db_metrics import watch_engine

    metadata = ctx.stores.metadata
    if not isinstance(metadata, SqlMetadataStore):
        return lambda: None
    return watch_engine(metadata.engine, metrics)
