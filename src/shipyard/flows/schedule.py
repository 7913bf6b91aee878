"""Cron schedules of flows: ``@flow(schedule="0 * * * *")``. Pure: parsing, fire-time arithmetic
on a clock the caller passes in, and :func:`schedule_spec`, the description exporters translate.

Cron expressions have five fields (minute hour day-of-month month day-of-week) or are one of the
macros ``@hourly @daily @midnight @weekly @monthly @yearly @annually``; they are evaluated in UTC
(cronsim, no daylight-saving surprises). Policy for fire times missed while no scheduler ran:
``skip`` (the default) runs only the latest of them, once; ``catchup`` runs each, oldest first, at
most ``max_catchup`` (the latest ones) per pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import FlowError
from shipyard.flows.triggers import Trigger, parse_triggers

if TYPE_CHECKING:
    from shipyard.flows.decorators import Flow
    from shipyard.flows.params import ParamSpec

MAX_CATCHUP = 100
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_TICK = timedelta(microseconds=1)


def parse_cron(flow_name: str, expression: object) -> str:
    """The five-field form of ``expression`` (macros expanded, spaces normalized); a FlowError
    naming the flow and the expression when it is not a valid cron expression."""
    from cronsim import CronSim, CronSimError

    if not isinstance(expression, str):
        raise FlowError(f'flow {flow_name!r}: schedule must be a cron string like "0 * * * *"')
    text = " ".join(expression.split())
    text = _MACROS.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise FlowError(
            f"flow {flow_name!r}: schedule {expression!r} is not a cron expression: it needs 5 fields "
            f'(minute hour day month weekday, e.g. "0 * * * *") or @hourly/@daily/..., got {len(fields)}'
        )
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise FlowError(
            f"flow {flow_name!r}: schedule {expression!r} is not a cron expression: {exc} "
            '(fields: minute hour day month weekday, e.g. "0 * * * *")'
        ) from None
    return text


def schedule_options(
    flow_name: str, params: Sequence[ParamSpec], schedule: object, trigger: object
) -> tuple[str | None, tuple[Trigger, ...]]:
    """``@flow(schedule=..., trigger=...)`` checked: a scheduled or triggered flow is started with
    its parameters' defaults, so every parameter needs one."""
    cron = None if schedule is None else parse_cron(flow_name, schedule)
    triggers = parse_triggers(flow_name, trigger)
    if cron is not None or triggers:
        missing = [p.name for p in params if p.required]
        if missing:
            raise FlowError(
                f"flow {flow_name!r} is scheduled or triggered, so it runs with its parameters' "
                f"defaults; give {', '.join(missing)} a default"
            )
    return cron, triggers


def next_fire_times(cron: str, after: datetime, count: int = 1) -> list[datetime]:
    """The first ``count`` fire times strictly after ``after`` (UTC)."""
    from cronsim import CronSim

    it = CronSim(cron, after.astimezone(UTC))
    return [next(it) for _ in range(count)]


@dataclass(frozen=True)
class Due:
    """What a pass should fire: ``times`` (oldest first), and how many fire times it leaves out
    (``skipped``; with ``more``, at least that many: the count is bounded), ``more``: more fire
    times were missed than the walk back counts (``max_catchup + 1``)."""

    times: tuple[datetime, ...]
    skipped: int = 0
    more: bool = False


def due_times(
    cron: str, last: datetime, now: datetime, *, catchup: bool = False, max_catchup: int = MAX_CATCHUP
) -> Due:
    """The fire times in ``(last, now]`` to run now: the latest only (skip policy) or each of them
    (``catchup``), at most ``max_catchup`` — the latest ones. Walks back from ``now``, so a long
    gap costs at most ``max_catchup + 1`` steps."""
    from cronsim import CronSim

    if max_catchup < 1:
        raise FlowError(f"max_catchup must be at least 1, got {max_catchup}")
    last = last.astimezone(UTC)
    found: list[datetime] = []
    for at in CronSim(cron, now.astimezone(UTC) + _TICK, reverse=True):
        if at <= last or len(found) > max_catchup:
            break
        found.append(at)
    more = len(found) > max_catchup  # the walk stopped at its bound: there may be more
    if not catchup:
        return Due(tuple(found[:1]), skipped=max(len(found) - 1, 0), more=more)
    return Due(tuple(reversed(found[:max_catchup])), skipped=0, more=more)


def cron_source(cron: str) -> str:
    """The key a scheduler keeps a cron schedule's cursor under (a trigger's is ``trigger.source``)."""
    return f"cron:{cron}"


def schedule_sources(flow: Flow) -> list[str]:
    """Every source that starts ``flow``: its cron schedule, then its triggers."""
    return ([cron_source(flow.schedule)] if flow.schedule else []) + [t.source for t in flow.triggers]


def schedule_spec(flow: Flow) -> dict[str, Any]:
    """What starts ``flow``, for exporters (Argo CronWorkflow / Events sensors, Airflow schedule /
    Datasets): ``{"flow": name, "cron": "0 * * * *" | None, "timezone": "UTC", "triggers":
    [{"kind": "dataset", "dataset": ...}, {"kind": "model_version", "model": ...},
    {"kind": "model_alias", "model": ..., "alias": ... | None}]}``."""
    return {
        "flow": flow.name,
        "cron": flow.schedule,
        "timezone": "UTC",
        "triggers": [t.describe() for t in flow.triggers],
    }


__all__ = [
    "MAX_CATCHUP",
    "Due",
    "cron_source",
    "due_times",
    "next_fire_times",
    "parse_cron",
    "schedule_sources",
    "schedule_spec",
]
