"""``shipyard.card``: the card of the task running in this process, or a card of one's own outside
a task (a notebook, a script), so the same code builds a report anywhere.

Inside a flow step the runtime opens the task's card around the step call (:func:`task_card`):
``card.refresh()`` stores the card as the task's artifact ``card`` (a JSON document: a new version
of the same record while the task runs; writes are coalesced to one per ``min_interval_s``), and
when the step ends whatever changed since the last write is stored. A step that never touches the
card stores nothing (the UI then shows the task's default card, built from its records). The
card's strings are stored with the step's secrets replaced by ``***``.

Process state: the one card being built by the task running here (tasks run one at a time per
worker process), set and cleared by :func:`task_card`.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from shipyard.cards.model import Card

ARTIFACT_NAME = "card"
MIN_INTERVAL_S = 1.0


class _TaskCard:
    """The card of one task and how it is stored."""

    def __init__(self, store: Callable[[bytes], None], secrets: Sequence[str], min_interval_s: float) -> None:
        self.card = Card(on_refresh=self._refresh)
        self._store = store
        self._secrets = list(secrets)
        self._min_interval_s = min_interval_s
        self._stored_revision = 0
        self._last_write = 0.0
        self._lock = threading.Lock()

    def _refresh(self, card: Card) -> None:
        if time.monotonic() - self._last_write >= self._min_interval_s:
            self.flush()

    def flush(self) -> None:
        """Store the card if it changed since the last write."""
        with self._lock:
            revision = self.card.revision
            if revision == self._stored_revision:
                return
            data = self.card.to_json()
            if self._secrets:
                data = _redacted(data, self._secrets)
            self._store(data)
            self._stored_revision = revision
            self._last_write = time.monotonic()


def _redacted(data: bytes, secrets: list[str]) -> bytes:
    import json

    from shipyard.runtime.capture import redact_text

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return redact_text(node, secrets)
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        return node

    return json.dumps(walk(json.loads(data)), ensure_ascii=False, separators=(",", ":")).encode()


class _State:
    def __init__(self) -> None:
        self.task: _TaskCard | None = None
        self.standalone: Card | None = None


_STATE = _State()


@contextlib.contextmanager
def task_card(
    store: Callable[[bytes], None], secrets: Sequence[str] = (), min_interval_s: float = MIN_INTERVAL_S
) -> Iterator[_TaskCard]:
    """Make ``shipyard.card`` this task's card while the step runs; store what changed at the end
    (also when the step raised: a failed attempt keeps its card in its history)."""
    previous = _STATE.task
    holder = _TaskCard(store, secrets, min_interval_s)
    _STATE.task = holder
    try:
        yield holder
    finally:
        _STATE.task = previous
        try:
            holder.flush()
        except Exception as exc:  # the step's own outcome stands; the log says why the card is stale
            print(
                f"shipyard: the task's card could not be stored: {type(exc).__name__}: {exc}", file=sys.stderr
            )


def current_card() -> Card:
    """The running task's card, else this process's own card (created on first use)."""
    if _STATE.task is not None:
        return _STATE.task.card
    if _STATE.standalone is None:
        _STATE.standalone = Card()
    return _STATE.standalone


class CardAccessor:
    """What ``shipyard.card`` is: every attribute is the current card's (:func:`current_card`)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(current_card(), name)

    def _repr_html_(self) -> str:
        return current_card()._repr_html_()

    def __repr__(self) -> str:
        return repr(current_card())


card = CardAccessor()
