"""Fixtures for the tracking tests: real stores (SQLite + local folder) in a per-test SHIPYARD_HOME."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.core.settings import Settings, load_settings
from shipyard.tracking import fluent
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import Stores, open_stores


@pytest.fixture
def settings() -> Settings:
    return load_settings(
        user="alice",
        heartbeat_interval_s=0.2,
        heartbeat_timeout_s=1.5,
        metric_flush_interval_s=0.2,
        metric_batch_size=500,
    )


@pytest.fixture
def stores(settings: Settings) -> Iterator[Stores]:
    opened = open_stores(settings)
    yield opened
    opened.close()


@pytest.fixture
def client(stores: Stores) -> TrackingClient:
    return TrackingClient(stores)


@pytest.fixture
def sdk(stores: Stores) -> Iterator[Stores]:
    """The fluent API (``shipyard.start_run``...) bound to ``stores``; reset afterwards."""
    fluent.reset()
    fluent.set_stores(stores)
    yield stores
    fluent.reset()
