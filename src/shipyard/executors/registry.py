"""Executors by name (``--executor NAME``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.core.errors import ConfigurationError
from shipyard.executors.base import Executor


def _local(**options: Any) -> Executor:
    from shipyard.executors.local import LocalExecutor

    return LocalExecutor(
        max_workers=options.get("max_workers"),
        start_method=options.get("start_method"),
        warmup=options.get("warmup"),
    )


def _ray(**options: Any) -> Executor:
    from shipyard.executors.ray import RayExecutor

    return RayExecutor(
        address=options.get("address"),
        max_workers=options.get("max_workers"),
        connect_timeout_s=float(options.get("connect_timeout_s") or 5.0),
    )


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": _local, "ray": _ray}


def open_executor(name: str = "local", **options: Any) -> Executor:
    try:
        factory = EXECUTORS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown executor {name!r}; known: {', '.join(sorted(EXECUTORS))}"
        ) from None
    return factory(**options)
