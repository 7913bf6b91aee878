"""Shared fixtures. Each area keeps its own fixtures in tests/<area>/conftest.py; the S3 ones
(moto's standalone server on loopback, test credentials) are shared by every area that uses S3."""

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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on loopback, one per session (the one stand-in allowed)."""
    import socket

    from tests.services import require

    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        require(False, f"moto[server] is not installed ({exc})")
        raise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
    except OSError as exc:  # pragma: no cover
        require(False, f"moto's S3 server cannot start on 127.0.0.1: {exc}")
    host, port = server.get_host_and_port()
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except OSError as exc:  # pragma: no cover
        server.stop()
        require(False, f"moto's S3 server does not answer on {host}:{port}: {exc}")
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials for moto, and nothing from the machine's AWS configuration."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# Test files that start the local Ray cluster (a session fixture): run on one worker, one after another.
RAY_FILES = ("tests/ray/", "tests/executors/")


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """pytest-xdist (``.ci/run``: ``-n N --dist loadfile``): each test file on one worker, so its
    module-scoped fixtures (a live server, a real Airflow run) are built once, and every file that
    starts the local Ray cluster on the same worker (one cluster at a time on a small machine).
    (xdist's own ``loadgroup`` marks do not take under pytest 9: it renames nodes through an
    attribute pytest 9 no longer reads.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "ray" if path.startswith(RAY_FILES) else path

    return FileScheduling(config, log)
