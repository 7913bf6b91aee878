"""Fixtures for delivery tests: a world on a private SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.metadata import open_metadata_store
from tests.deploy.delivery_world import World, open_world, sqlite_uri


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = open_metadata_store(sqlite_uri(tmp_path))
    try:
        yield open_world(store)
    finally:
        store.close()
