"""``shipyard schedule run|list``: the local scheduler of flows with a schedule or triggers."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.runtime.loader import LoadedFlow

app = typer.Typer(
    help=(
        "Run flows on their @flow(schedule=...) and trigger=... (on_dataset, on_model, "
        "on_model_version). State (what fired) lives in the metadata database."
    ),
    no_args_is_help=True,
)

Files = Annotated[
    list[Path], typer.Argument(help="Flow files; every flow in them with a schedule or trigger.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _airflow_notifier(url: str) -> Any:
    import os

    from shipyard.exporters.airflow_assets import airflow_notifier

    return airflow_notifier(url, os.environ.get("AIRFLOW_TOKEN") or None)


def _say(text: str) -> None:
    from shipyard.cli._output import printable

    typer.echo(printable(text))


@app.command("run")
def run_command(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    files: Files,
    once: Annotated[bool, typer.Option("--once", help="One pass: fire what is due now, then exit.")] = False,
    catchup: Annotated[
        bool,
        typer.Option(
            "--catchup",
            help="Run every missed fire time and every new event (default: only the latest missed "
            "fire time, and one run for the newest of several new events).",
        ),
    ] = False,
    max_catchup: Annotated[
        int, typer.Option("--max-catchup", min=1, help="At most this many missed fires per flow per pass.")
    ] = 100,
    interval: Annotated[
        float,
        typer.Option("--interval", min=1.0, help="Seconds between passes (triggers are polled each pass)."),
    ] = 30.0,
    max_workers: Annotated[
        int | None, typer.Option("--max-workers", "-w", help="Parallel tasks of each run (default: cores).")
    ] = None,
    notify: Annotated[
        str | None,
        typer.Option(
            "--notify",
            help="POST each fire to this URL (the Argo Events webhook of `shipyard export argo "
            "--events-out`) instead of running the flow here.",
        ),
    ] = None,
    notify_airflow: Annotated[
        str | None,
        typer.Option(
            "--notify-airflow",
            help="Report each trigger event to this Airflow (3) as an event of the exported DAG's "
            "asset (a bearer token from AIRFLOW_TOKEN) instead of running the flow here.",
        ),
    ] = None,
) -> None:
    """Start due runs of the flows in FILES, in a loop (or one pass with --once).
    Fire times missed while no scheduler ran: only the latest runs (--catchup: each, up to --max-catchup).
    New dataset versions, model versions and alias moves: one run for the newest (--catchup: one each).
    Runs use the flow's parameter defaults and are tagged shipyard.trigger and shipyard.scheduled_time.
    The first pass over a flow (or a changed cron) only starts watching; nothing from before runs.
    Schedulers sharing a database start each fire once; they need its URI (sqlite:///, postgresql://)."""
    from shipyard.core.clock import utcnow
    from shipyard.core.errors import ShipyardError
    from shipyard.runtime.api import RunOptions
    from shipyard.runtime.schedule_loop import NOTIFIED, open_scheduler
    from shipyard.runtime.stores import open_run_stores

    stores = open_run_stores(state(ctx).settings)
    try:
        runner = open_scheduler(
            files,
            stores,
            RunOptions(max_workers=max_workers),
            catchup=catchup,
            max_catchup=max_catchup,
            report=_say,
            notify=notify,
            starter=_airflow_notifier(notify_airflow) if notify_airflow else None,
        )
        for loaded in runner.flows:
            _say(f"scheduling flow {loaded.flow.name}: {_describe(loaded)}")
        while True:
            if once:
                fired = runner.run_pass()
                if any(f.run is None or f.run.status not in ("succeeded", NOTIFIED) for f in fired):
                    raise typer.Exit(1)
                return
            try:
                runner.run_pass()
            except ShipyardError as exc:  # a database or registry outage: report, try again next pass
                _say(f"error: {' '.join(str(exc).split())} (next pass in {interval:g} s)")
            wake = runner.next_fire()
            delay = interval
            if wake is not None:
                delay = min(interval, max((wake - utcnow()).total_seconds(), 0.0) + 0.05)
            time.sleep(delay)
    finally:
        stores.close()


def _describe(loaded: LoadedFlow) -> str:
    parts = []
    if loaded.flow.schedule:
        parts.append(f"cron {loaded.flow.schedule!r} (UTC)")
    parts.extend(t.source for t in loaded.flow.triggers)
    return ", ".join(parts)


@app.command("list")
def list_command(
    ctx: typer.Context,
    files: Files,
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=100, help="Next fire times shown.")] = 3,
    as_json: AsJson = False,
) -> None:
    """Show the schedules and triggers of the flows in FILES, next fire times (UTC), last fires.

    The last fire of each schedule and trigger is read from the metadata database (left out when
    SHIPYARD_URI names a server)."""
    from shipyard.core.clock import utcnow
    from shipyard.flows.schedule import next_fire_times, schedule_sources, schedule_spec
    from shipyard.runtime.schedule_loop import load_scheduled

    flows = load_scheduled(files)
    now = utcnow()
    last = _last_fires(ctx, flows)
    rows: list[dict[str, Any]] = []
    for loaded in flows:
        flow = loaded.flow
        spec = schedule_spec(flow)
        sources = schedule_sources(loaded.flow)
        rows.append(
            {
                **spec,
                "file": str(loaded.path),
                "next": [t.isoformat() for t in next_fire_times(flow.schedule, now, count)]
                if flow.schedule
                else [],
                "last_fired": {s: last.get((flow.name, s)) for s in sources},
            }
        )
    if as_json:
        from shipyard.cli._output import print_json

        print_json(rows)
        return
    for row in rows:
        _say(f"flow {row['flow']}  ({row['file']})")
        if row["cron"]:
            _say(f"  schedule  {row['cron']} (UTC)  next: {', '.join(row['next'])}")
        for source, fired in row["last_fired"].items():
            shown = "never" if fired is None else f"{fired['at']} -> {fired['run_id'] or fired['error']}"
            _say(f"  {source}  last fired: {shown}")


def _last_fires(ctx: typer.Context, flows: list[LoadedFlow]) -> dict[tuple[str, str], dict[str, Any]]:
    """(flow, source) -> the last fire, read from the schedule store; empty for a server URI."""
    from shipyard.core.errors import ConfigurationError
    from shipyard.flows.schedule import schedule_sources
    from shipyard.metadata.schedules import open_schedule_store

    try:
        store = open_schedule_store(state(ctx).stores.metadata)
    except ConfigurationError:
        return {}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for loaded in flows:
        flow = loaded.flow
        for source in schedule_sources(loaded.flow):
            for claim in store.list_claims(flow.name, source=source, kind="fire", limit=1):  # the newest
                found[(flow.name, source)] = {
                    "at": _when(claim.claimed_at),
                    "position": claim.position,
                    "trigger": claim.event,
                    "run_id": claim.run_id,
                    "error": claim.error,
                }
    return found


def _when(at: datetime) -> str:
    return at.isoformat(timespec="seconds")
