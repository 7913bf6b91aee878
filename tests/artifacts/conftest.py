"""Fixtures for the artifact tests: one local store per module (hypothesis reuses it across examples)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.artifacts.backends.local import LocalBackend
from shipyard.artifacts.store import ArtifactStore


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArtifactStore]:
    artifacts = ArtifactStore(LocalBackend(tmp_path_factory.mktemp("artifact-store")))
    yield artifacts
    artifacts.close()
