"""Shared fixtures. Each area keeps its own fixtures in tests/<area>/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets its own SHIPYARD_HOME and no inherited SHIPYARD_* settings."""
    import os

    for key in list(os.environ):
        if key.startswith("SHIPYARD_") and key != "SHIPYARD_TEST_POSTGRES":
            monkeypatch.delenv(key, raising=False)
    home = tmp_path_factory.mktemp("shipyard-home")
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    yield home
