"""Real services the tests use, and the rule for when they are missing.

Outside CI a test that needs a missing service is skipped with the reason; in CI (``CI=true``)
the same situation is a failure, so a broken CI machine can never pass by skipping.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get("SHIPYARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(condition: bool, reason: str) -> None:
    """Skip (or fail in CI) when ``condition`` is false."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"required service missing in CI: {reason}")
    pytest.skip(reason)


def require_postgres() -> str:
    require(port_open("127.0.0.1", 5432), "Postgres is not reachable at 127.0.0.1:5432")
    return POSTGRES_URL


REDIS_URL = os.environ.get("SHIPYARD_TEST_REDIS", "redis://127.0.0.1:6379/0")


def require_redis() -> str:
    require(port_open("127.0.0.1", 6379), "Redis is not reachable at 127.0.0.1:6379")
    return REDIS_URL


def require_pypi() -> None:
    """PyPI (through uv, ``shipyard[envs]``) for the per-step environment tests."""
    import importlib.util

    require(importlib.util.find_spec("uv") is not None, "uv is not installed (pip install 'shipyard[envs]')")
    require(port_open("pypi.org", 443, timeout=3.0), "PyPI (pypi.org:443) is not reachable")
