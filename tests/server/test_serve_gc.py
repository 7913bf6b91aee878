"""``serve`` moves the start-up objects out of the collector's reach before it answers requests."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.settings import load_settings
from shipyard.server import run
from shipyard.server.app import ServerConfig
from tests.server.live import ADMIN_TOKEN


def test_serve_freezes_before_uvicorn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: list[int] = []

    def fake_run(app: Any, **_: Any) -> None:
        seen.append(gc.get_freeze_count())

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("SHIPYARD_ADMIN_TOKEN", ADMIN_TOKEN)
    settings = load_settings(
        home=tmp_path, uri=f"sqlite:///{tmp_path / 'shipyard.db'}", artifacts=str(tmp_path / "artifacts")
    )
    gc.unfreeze()
    try:
        run.serve(settings, "127.0.0.1", 0, ServerConfig())
    finally:
        gc.unfreeze()  # the rest of the test process collects as usual
    assert seen and seen[0] > 0
