"""The audit log's hash chain: each event's ``chain`` is sha256(previous chain + the event's content).

Editing an event changes its content hash; inserting or deleting one breaks the link of the event
after it. :func:`verify` walks events oldest first and names the first one that does not fit. The
head (the last chain value) is what an operator records elsewhere to detect a rewrite of the
whole tail (``shipyard audit verify`` prints it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


class Chained(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def at(self) -> datetime: ...
    @property
    def user(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def scope(self) -> str | None: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def detail(self) -> str | None: ...
    @property
    def chain(self) -> str | None: ...


def link(previous: str, event: Chained) -> str:
    """The chain value of ``event`` following ``previous``."""
    content = [
        (event.at - _EPOCH) // _MICRO,  # stored times keep microseconds
        event.user,
        event.action,
        event.target,
        event.status,
        event.scope,
        event.request_id,
        event.source,
        event.detail,
    ]
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{previous}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int  # chained events checked
    unchained: int  # events from before the chain existed (revision 0007), at the start only
    head: str  # the last chain value
    problem: str | None = None  # the first event that does not fit, and why


def verify(events: Iterable[Chained]) -> Verdict:
    """Walk events oldest first (by id)."""
    previous, checked, unchained, started = GENESIS, 0, 0, False
    for event in events:
        if event.chain is None:
            if started:
                return Verdict(False, checked, unchained, previous, f"event {event.id} has no chain value")
            unchained += 1
            continue
        started = True
        expected = link(previous, event)
        if event.chain != expected:
            why = (
                f"event {event.id} does not follow the event before it: it was edited, or an event "
                "before it was inserted or deleted"
            )
            return Verdict(False, checked, unchained, previous, why)
        previous = event.chain
        checked += 1
    return Verdict(True, checked, unchained, previous)
