"""A real local Ray cluster (head + one worker node on loopback, 1 CPU each) for the whole test
session, shared with the executor contract suite (``tests/executors/conftest.py``).

Skipped with the reason when Ray is not installed; a failure in CI (``tests.services.require``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from tests.ray.cluster import LocalRayCluster, shared_cluster, stop_shared
from tests.services import require


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalRayCluster]:
    require(ray_installed(), "Ray is not installed (pip install 'shipyard[ray]')")
    yield shared_cluster()
    stop_shared()
