"""The ``executor`` fixture: every contract test runs once per executor name.

Add a new executor (e.g. ``"ray"``) to ``EXECUTORS`` once it is registered in
:mod:`shipyard.executors.registry`; nothing else in the suite changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.settings import Settings, load_settings
from shipyard.runtime.api import FlowRun, RunOptions, resume, run_file
from shipyard.runtime.stores import RunStores, open_run_stores

FLOWS = Path(__file__).resolve().parent.parent / "flows" / "flows_for_tests"
EXECUTORS = ["local", pytest.param("ray", marks=pytest.mark.ray)]


class Runner:
    def __init__(self, executor: str, settings: Settings, stores: RunStores) -> None:
        self.executor = executor
        self.settings = settings
        self.stores = stores

    def run(self, file: str | Path, flow: str | None = None, **params: Any) -> FlowRun:
        path = file if isinstance(file, Path) else FLOWS / file
        options = RunOptions(executor=self.executor, max_workers=2)
        return run_file(path, params, self.settings, options, flow)

    def resume(self, run_id: str) -> FlowRun:
        return resume(run_id, self.settings, RunOptions(executor=self.executor, max_workers=2), self.stores)

    def tasks(self, run: FlowRun) -> dict[str, Any]:
        return {t.key: t for t in self.stores.metadata.list_tasks(run.id)}


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """The shared local Ray cluster (tests/ray/cluster.py); skipped without Ray, a failure in CI."""
    import importlib.util

    from tests.ray.cluster import shared_cluster, stop_shared
    from tests.services import require

    require(importlib.util.find_spec("ray") is not None, "Ray is not installed (pip install 'shipyard[ray]')")
    yield shared_cluster().address
    stop_shared()


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name = str(request.param)
    if name == "ray":
        monkeypatch.setenv("RAY_ADDRESS", request.getfixturevalue("ray_address"))
    return name


@pytest.fixture
def settings() -> Settings:
    return load_settings(heartbeat_interval_s=0.3, heartbeat_timeout_s=2.0)


@pytest.fixture
def runner(executor: str, settings: Settings) -> Iterator[Runner]:
    stores = open_run_stores(settings)
    yield Runner(executor, settings, stores)
    stores.close()


@pytest.fixture
def counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder steps touch files in to prove they ran (``SHIPYARD_TEST_COUNTS``)."""
    folder = tmp_path / "counts"
    folder.mkdir()
    monkeypatch.setenv("SHIPYARD_TEST_COUNTS", str(folder))
    return folder
