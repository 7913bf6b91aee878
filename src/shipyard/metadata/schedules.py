"""The scheduler's state: which fire times and events each flow has claimed, so a restarted
scheduler neither fires a tick again nor misses one, and two schedulers on one database never
both fire the same tick.

One record per *claim*: (flow, source, position) is unique. ``source`` names what starts the flow
(``cron:0 * * * *``, ``dataset:NAME``, ``model-version:NAME``, ``model-alias:NAME@ALIAS``) and
``position`` orders its events: a fire time in microseconds since the epoch for a cron source; a
version number, or the number of alias events seen, for a trigger. A flow's cursor on a source is
the largest position claimed (:meth:`ScheduleStore.last_position`). Kinds:

- ``fire`` — a run was (to be) started for it; ``event`` is the run's ``shipyard.trigger`` tag,
  ``run_id``/``error`` are filled once the start was tried (a claim whose process died before
  that keeps neither: a tick fires at most once);
- ``baseline`` — where the scheduler started watching (first pass), or events it read that start
  nothing (an alias deleted): the cursor moves, no run starts.

Writing a new backend
---------------------
Subclass :class:`ScheduleStore`, teach :func:`open_schedule_store` to build it, and add it to
``tests/contract/test_schedules_contract.py``. :meth:`ScheduleStore.claim` must be atomic: of two
concurrent claims of one (flow, source, position) exactly one returns True.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shipyard.core.errors import ConfigurationError

if TYPE_CHECKING:
    from shipyard.metadata.base import MetadataStore

FIRE_KINDS = ("fire", "baseline")
MAX_SOURCE = 600  # "model-alias:" + a 250-character model name + "@" + an alias


@dataclass(frozen=True)
class ScheduleClaim:
    flow: str
    source: str
    position: int
    kind: str  # one of FIRE_KINDS
    claimed_at: datetime
    claimed_by: str  # the scheduler that claimed it (host:pid)
    event: str | None = None  # the run's shipyard.trigger tag
    run_id: str | None = None
    error: str | None = None


class ScheduleStore(abc.ABC):
    @abc.abstractmethod
    def claim(self, claim: ScheduleClaim) -> bool:
        """Record ``claim`` unless its (flow, source, position) is already claimed: True when this
        call recorded it, False when another did (atomically, across processes)."""

    @abc.abstractmethod
    def last_position(self, flow: str, source: str) -> int | None:
        """The largest position claimed for ``flow`` on ``source`` (None: never watched)."""

    @abc.abstractmethod
    def record_start(
        self, flow: str, source: str, position: int, *, run_id: str | None, error: str | None = None
    ) -> None:
        """The outcome of starting a claimed fire: the run it started, or why none started."""

    @abc.abstractmethod
    def list_claims(
        self,
        flow: str | None = None,
        *,
        source: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ScheduleClaim]:
        """Claims by flow, source, then newest position first (``limit=None``: all)."""


def open_schedule_store(metadata: MetadataStore) -> ScheduleStore:
    """The schedule state beside ``metadata``: its SQL database. A server URI is refused for now
    (the team server has no schedule routes): the scheduler needs the database's URI."""
    from shipyard.metadata.sql.store import SqlMetadataStore

    metadata = metadata.backing_store()
    if isinstance(metadata, SqlMetadataStore):
        from shipyard.metadata.sql.schedules_store import SqlScheduleStore

        return SqlScheduleStore(metadata)
    raise ConfigurationError(
        "the scheduler keeps its state in the metadata database and needs its URI "
        "(SHIPYARD_URI=sqlite:///... or postgresql://...); a shipyard server has no schedule routes yet"
    )
