"""Template tests: renders go to tmp folders; the built-in templates' git mirrors to a tmp cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _template_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path_factory.mktemp("template-cache")
    monkeypatch.setenv("SHIPYARD_TEMPLATE_CACHE", str(cache))
    return cache
