"""Secrets inside a running step: exposed as environment variables only while the step runs, and
kept out of what the task records (logs: :mod:`shipyard.runtime.capture`; params and tags: the
metadata store the step's tracking calls see; the task's error text: :func:`redact_text`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from shipyard.runtime.capture import redact_text


@contextlib.contextmanager
def exposed(variables: Mapping[str, str]) -> Iterator[None]:
    """Set ``variables`` in ``os.environ`` for the block; put back what was there before."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


def redact_value(value: Any, secrets: list[str]) -> Any:
    """``value`` with secret values replaced in every string it holds (dict keys included)."""
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {redact_value(k, secrets): redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v, secrets) for v in value)
    return value


class RedactingMetadata:
    """The run's metadata store as a step that holds secrets sees it: params and tags it writes have
    every secret value replaced by ``***``; everything else passes through."""

    def __init__(self, inner: Any, secrets: list[str]) -> None:
        self._inner = inner
        self._secrets = secrets

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self._inner.log_params(run_id, redact_value(params, self._secrets))

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._inner.set_tags(run_id, redact_value(tags, self._secrets))
