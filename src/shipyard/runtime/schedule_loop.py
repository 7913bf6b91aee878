"""The local scheduler (``shipyard schedule run``): one pass fires what is due.

For each flow with a ``schedule``: the fire times since the last one claimed (skip policy: the
latest only; ``catchup``: each, at most ``max_catchup``). For each trigger: the events after the
last one claimed, read from the registry and the dataset store (:mod:`schedule_events`); by default
they are *coalesced* — one run for the newest — and with ``catchup`` one run per event (at most
``max_catchup`` per pass, the rest on the next). Every fire is first *claimed* in the metadata
database (:mod:`shipyard.metadata.schedules`, unique per flow, source and position), so a
restarted scheduler does not fire again and of two schedulers on one database only one fires a
tick; then the run starts through the runtime with the flow's parameter defaults and the tags
``shipyard.trigger`` (``schedule``, ``dataset:NAME@V``, ``model:NAME/V``, ``model:NAME@ALIAS=V``)
and ``shipyard.scheduled_time`` (the fire time, or the event's time). A process that dies between
a claim and its run's start loses that fire: at most once. The first pass over a flow starts
nothing: it records where watching begins (now; the newest version); a changed cron expression is a
new source, watched from its first pass. Runs start one after the other in this process; the clock
is injected, so tests never sleep.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.core.clock import utcnow
from shipyard.core.errors import FlowError
from shipyard.flows.schedule import MAX_CATCHUP, cron_source, due_times, next_fire_times
from shipyard.flows.triggers import Trigger
from shipyard.metadata.schedules import ScheduleClaim, ScheduleStore
from shipyard.runtime.loader import LoadedFlow, file_hash, flows_in, import_file
from shipyard.runtime.schedule_events import EventReader

if TYPE_CHECKING:
    from shipyard.runtime.api import RunOptions
    from shipyard.runtime.stores import RunStores

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
TRIGGER_TAG = "shipyard.trigger"
TIME_TAG = "shipyard.scheduled_time"
SOURCE_TAG = "shipyard.trigger_source"  # what fired it: cron:EXPR, dataset:NAME, model-alias:M@A...
NOTIFIED = "notified"  # the status of a fire reported to a webhook instead of run here


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    status: str  # the run's status when the start call returned
    error: str | None = None


StartRun = Callable[[LoadedFlow, Mapping[str, str]], StartedRun]
Report = Callable[[str], None]


@dataclass(frozen=True)
class Fired:
    """One fire of a pass: the claim's flow, source and position, the run's trigger tag, and the
    run it started (or why none started)."""

    flow: str
    source: str
    position: int
    trigger: str
    run: StartedRun | None
    error: str | None = None


def micros(at: datetime) -> int:
    return (at.astimezone(UTC) - EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def scheduler_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def load_scheduled(paths: Sequence[Path]) -> list[LoadedFlow]:
    """The flows with a schedule or trigger in ``paths``; FlowError when a file has none or two
    flows share a name (the scheduler's state is kept per flow name)."""
    loaded: list[LoadedFlow] = []
    seen: dict[str, Path] = {}
    for raw in paths:
        path = raw.resolve()
        digest = file_hash(path) if path.is_file() else None
        module = import_file(path, digest)
        found = [f for f in flows_in(module).values() if f.schedule or f.triggers]
        if not found:
            raise FlowError(
                f"{path} defines no flow with a schedule or trigger; "
                'use @flow(schedule="0 * * * *") or @flow(trigger=on_dataset("NAME"))'
            )
        for flow in found:
            if flow.name in seen:
                raise FlowError(
                    f"flow {flow.name!r} is defined in {seen[flow.name]} and {path}; "
                    "scheduled flows need distinct names"
                )
            seen[flow.name] = path
            loaded.append(LoadedFlow(flow=flow, module=module, path=path, source_hash=digest or ""))
    return loaded


class ScheduleRunner:
    def __init__(
        self,
        flows: Sequence[LoadedFlow],
        store: ScheduleStore,
        events: EventReader,
        start: StartRun,
        *,
        clock: Callable[[], datetime] = utcnow,
        catchup: bool = False,
        max_catchup: int = MAX_CATCHUP,
        owner: str | None = None,
        report: Report | None = None,
    ) -> None:
        if max_catchup < 1:
            raise FlowError(f"--max-catchup must be at least 1, got {max_catchup}")
        self.flows = list(flows)
        self._store = store
        self._events = events
        self._start = start
        self._clock = clock
        self._catchup = catchup
        self._max = max_catchup
        self._owner = owner or scheduler_id()
        self._report: Report = report or (lambda _line: None)

    def run_pass(self) -> list[Fired]:
        """Fire what is due now, flow by flow; returns the fires this scheduler claimed."""
        fired: list[Fired] = []
        for loaded in self.flows:
            if loaded.flow.schedule:
                fired.extend(self._cron(loaded, loaded.flow.schedule))
            for trigger in loaded.flow.triggers:
                fired.extend(self._trigger(loaded, trigger))
        return fired

    def next_fire(self) -> datetime | None:
        """The earliest fire time of any schedule after now (None: no flow has a schedule)."""
        now = self._clock()
        times = [next_fire_times(f.flow.schedule, now)[0] for f in self.flows if f.flow.schedule]
        return min(times, default=None)

    # ---- cron ----------------------------------------------------------------------------------
    def _cron(self, loaded: LoadedFlow, cron: str) -> list[Fired]:
        name, source = loaded.flow.name, cron_source(cron)
        now = self._clock()
        last = self._store.last_position(name, source)
        if last is None:
            self._baseline(name, source, micros(now))
            return []
        due = due_times(cron, from_micros(last), now, catchup=self._catchup, max_catchup=self._max)
        if due.skipped:
            self._report(
                f"flow {name}: skipped {'at least ' if due.more else ''}{due.skipped} missed fire "
                f"time(s) of {cron!r} (--catchup runs each); running the latest"
            )
        elif due.more:
            self._report(
                f"flow {name}: more than {self._max} fire times of {cron!r} were missed; "
                f"running the latest {self._max} (--max-catchup)"
            )
        fired = []
        for at in due.times:
            tags = {TRIGGER_TAG: "schedule", TIME_TAG: at.isoformat()}
            one = self._fire(loaded, source, micros(at), tags)
            if one is not None:
                fired.append(one)
        return fired

    # ---- triggers ------------------------------------------------------------------------------
    def _trigger(self, loaded: LoadedFlow, trigger: Trigger) -> list[Fired]:
        name, source = loaded.flow.name, trigger.source
        last = self._store.last_position(name, source)
        if last is None:
            self._baseline(name, source, self._events.current(trigger))
            return []
        found = self._events.after(trigger, last, limit=self._max, newest=not self._catchup)
        fired = []
        for event in found.events:
            tags = {TRIGGER_TAG: event.tag}
            if event.at is not None:
                tags[TIME_TAG] = event.at.astimezone(UTC).isoformat()
            one = self._fire(loaded, source, event.position, tags)
            if one is not None:
                fired.append(one)
        if found.cursor > max([last, *(e.position for e in found.events)]):
            self._baseline(name, source, found.cursor)  # events read that start nothing
        if found.more:
            self._report(f"flow {name}: more events of {source} are waiting; the next pass runs them")
        return fired

    # ---- claims --------------------------------------------------------------------------------
    def _baseline(self, flow: str, source: str, position: int) -> None:
        self._store.claim(ScheduleClaim(flow, source, position, "baseline", self._clock(), self._owner))

    def _fire(self, loaded: LoadedFlow, source: str, position: int, tags: Mapping[str, str]) -> Fired | None:
        name, trigger = loaded.flow.name, tags[TRIGGER_TAG]
        claim = ScheduleClaim(name, source, position, "fire", self._clock(), self._owner, event=trigger)
        if not self._store.claim(claim):
            return None  # another scheduler has it
        try:
            run = self._start(loaded, {**tags, SOURCE_TAG: source})
        except Exception as exc:  # a flow that fails to build or start must not stop the scheduler
            error = " ".join(f"{type(exc).__name__}: {exc}".split())
            self._store.record_start(name, source, position, run_id=None, error=error)
            self._report(f"flow {name}: no run started for {trigger}: {error}")
            return Fired(name, source, position, trigger, None, error)
        self._store.record_start(name, source, position, run_id=run.run_id, error=run.error)
        self._report(f"flow {name}: run {run.run_id} for {trigger}: {run.status}")
        return Fired(name, source, position, trigger, run)


def runtime_starter(stores: RunStores, options: RunOptions) -> StartRun:
    """Start runs through :func:`shipyard.runtime.api.execute` (to their end), params: the defaults."""
    from dataclasses import replace

    from shipyard.runtime.api import execute

    def start(loaded: LoadedFlow, tags: Mapping[str, str]) -> StartedRun:
        run_options = replace(options, tags={**options.tags, **tags})
        run = execute(loaded, {}, stores.settings, run_options, stores=stores)
        outcome = run.outcome
        status = outcome.status.value if outcome else run.status.value
        return StartedRun(run.id, status, outcome.error if outcome else None)

    return start


def webhook_starter(url: str, timeout_s: float = 10.0) -> StartRun:
    """Report each fire to ``url`` (an Argo Events webhook EventSource: the exported Sensor submits
    the flow's workflow) instead of running it here: a POST of ``{"flow", "source", "event",
    "scheduled_time", "position"}``; an answer other than 2xx is the fire's error (claimed once, not
    retried, like a run that failed to start)."""
    import httpx

    if not url.startswith(("http://", "https://")):
        raise FlowError(
            f"--notify {url!r} is not an http(s) URL, e.g. http://shipyard-eventsource-svc:12000/shipyard"
        )

    def notify(loaded: LoadedFlow, tags: Mapping[str, str]) -> StartedRun:
        body = {
            "flow": loaded.flow.name,
            "source": tags.get(SOURCE_TAG, ""),
            "event": tags.get(TRIGGER_TAG, ""),
            "scheduled_time": tags.get(TIME_TAG),
        }
        try:
            answer = httpx.post(url, json=body, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise FlowError(f"cannot notify {url}: {type(exc).__name__}: {exc}") from None
        if not answer.is_success:
            raise FlowError(f"{url} answered {answer.status_code} to the notification of {body['event']}")
        return StartedRun(run_id="", status=NOTIFIED)

    return notify


def open_scheduler(
    paths: Sequence[Path],
    stores: RunStores,
    options: RunOptions,
    *,
    catchup: bool = False,
    max_catchup: int = MAX_CATCHUP,
    report: Report | None = None,
    notify: str | None = None,
    starter: StartRun | None = None,
) -> ScheduleRunner:
    """A :class:`ScheduleRunner` over the scheduled flows of ``paths``, its state in ``stores``'
    database (a server URI is refused: :func:`~shipyard.metadata.schedules.open_schedule_store`)."""
    from shipyard.metadata.datasets import open_dataset_store
    from shipyard.metadata.model_registry import open_registry_store
    from shipyard.metadata.schedules import open_schedule_store

    schedules = open_schedule_store(stores.metadata)
    flows = load_scheduled(paths)
    events = EventReader(open_registry_store(stores.metadata), open_dataset_store(stores.metadata))
    return ScheduleRunner(
        flows,
        schedules,
        events,
        starter or (webhook_starter(notify) if notify else runtime_starter(stores, options)),
        catchup=catchup,
        max_catchup=max_catchup,
        report=report,
    )
