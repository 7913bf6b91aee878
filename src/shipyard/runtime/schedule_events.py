"""The events that trigger flows, read from the registry and the dataset store by polling.

A trigger's *position* orders its events (see :mod:`shipyard.metadata.schedules`): a dataset's or
model's version number (numbers are never reused; a deleted version is passed over), or for an
alias trigger the number of the model's alias events read so far (its history is append-only and
read in pages with ``offset``). Known limit: a model deleted and created again under the same name
starts its numbers anew, and its triggers stay quiet until they pass the old position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shipyard.core.errors import NotFoundError
from shipyard.flows.triggers import DatasetTrigger, ModelAliasTrigger, ModelVersionTrigger, Trigger
from shipyard.metadata.datasets import DatasetStore
from shipyard.metadata.model_registry import AliasEvent, RegistryStore

PAGE = 200


@dataclass(frozen=True)
class Event:
    """One event that starts a run: its position, the run's ``shipyard.trigger`` tag, its time."""

    position: int
    tag: str
    at: datetime | None


@dataclass(frozen=True)
class Events:
    """Events after a position, oldest first; ``cursor``: the position of the last one read (events
    that start nothing included); ``more``: the read stopped at its limit and more are waiting."""

    events: tuple[Event, ...]
    cursor: int
    more: bool = False


class EventReader:
    """Polls the stores for what happened after a trigger's last position."""

    def __init__(self, registry: RegistryStore, datasets: DatasetStore, *, page: int = PAGE) -> None:
        self._registry = registry
        self._datasets = datasets
        self._page = page

    def current(self, trigger: Trigger) -> int:
        """The position of the newest event now (0 when the dataset or model does not exist yet):
        where a scheduler that starts watching begins."""
        if isinstance(trigger, ModelAliasTrigger):
            return self._alias_events(trigger, 0, limit=None, newest=False).cursor
        return self._latest(trigger)

    def after(self, trigger: Trigger, position: int, *, limit: int, newest: bool) -> Events:
        """The events after ``position``: the oldest ``limit`` of them, or (``newest``) only the
        newest one, the cursor then passing every event before it."""
        if isinstance(trigger, ModelAliasTrigger):
            return self._alias_events(trigger, position, limit=limit, newest=newest)
        latest = self._latest(trigger)
        if latest <= position:
            return Events((), position)
        found: list[Event] = []
        numbers = range(latest, position, -1) if newest else range(position + 1, latest + 1)
        for number in numbers:
            event = self._version_event(trigger, number)
            if event is not None:
                found.append(event)
                if len(found) == (1 if newest else limit):
                    break
        if newest or len(found) < limit:
            return Events(tuple(found), latest)
        return Events(tuple(found), found[-1].position, more=found[-1].position < latest)

    def _latest(self, trigger: DatasetTrigger | ModelVersionTrigger) -> int:
        try:
            if isinstance(trigger, DatasetTrigger):
                latest = self._datasets.get_dataset(trigger.dataset).latest_version
            else:
                latest = self._registry.get_model(trigger.model).latest_version
        except NotFoundError:
            return 0
        return latest or 0

    def _version_event(self, trigger: DatasetTrigger | ModelVersionTrigger, number: int) -> Event | None:
        try:
            if isinstance(trigger, DatasetTrigger):
                version = self._datasets.get_version(trigger.dataset, number)
                return Event(number, f"dataset:{trigger.dataset}@{number}", version.created_at)
            model = self._registry.get_version(trigger.model, number)
            return Event(number, f"model:{trigger.model}/{number}", model.created_at)
        except NotFoundError:  # deleted since
            return None

    def _alias_events(
        self, trigger: ModelAliasTrigger, position: int, *, limit: int | None, newest: bool
    ) -> Events:
        found: list[Event] = []
        cursor = position
        while True:
            try:
                page = self._registry.alias_history(
                    trigger.model, trigger.alias, limit=self._page, offset=cursor
                )
            except NotFoundError:
                return Events((), position)
            for event in page:
                cursor += 1
                if _moves(event):
                    found.append(Event(cursor, f"model:{event.model_name}@{event.alias}={event.new_version}",
                                       event.at))  # fmt: skip
                    if newest:
                        found = found[-1:]
                    elif limit is not None and len(found) == limit:
                        return Events(tuple(found), cursor, more=True)
            if len(page) < self._page:
                return Events(tuple(found), cursor)


def _moves(event: AliasEvent) -> bool:
    """An alias set to a version it did not name before (not a delete, protect or a no-op set)."""
    return event.action == "set" and event.new_version is not None and event.new_version != event.old_version
