"""``shipyard agent``: the local deployment runtime of one environment (and ``status``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli.branches import BranchOption
from shipyard.cli.main import state

DEFAULT_STANDBY_S = 1800.0  # deploy.agent.supervisor.DEFAULT_STANDBY_S (not imported: the CLI starts fast)

app = typer.Typer(
    help=(
        "Run an environment's deployments on this machine: `shipyard agent -e staging` supervises its "
        "services (a stable address each, restarts, zero-downtime rollouts) and runs its batch jobs and "
        "scheduled flows; `shipyard agent status -e staging` shows them."
    ),
    invoke_without_command=True,
)

Environment = Annotated[str | None, typer.Option("--environment", "-e", help="The environment to run.")]


@app.callback(invoke_without_command=True)
def agent(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    environment: Environment = None,
    file: Annotated[Path, typer.Option("--file", "-f", help="The project's spec.")] = Path("shipyard.yaml"),
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            min=1.0,
            help="Seconds between full reconciles; a new release or a saved spec file is picked up "
            "within --wake-check, and SIGHUP reconciles now.",
        ),
    ] = 10.0,
    wake_check: Annotated[
        float,
        typer.Option(
            "--wake-check", min=0.05, max=60.0, help="Seconds between checks whether the desired state moved."
        ),
    ] = 0.5,
    host: Annotated[
        str, typer.Option("--host", help="Where the deployments' routers listen (loopback by default).")
    ] = "127.0.0.1",
    standby: Annotated[
        float,
        typer.Option(
            "--standby",
            min=0.0,
            help="Seconds the previous version stays warm after a rollout (no traffic, its processes' "
            "memory kept), so a rollback to it is a router switch; 0 stops it once drained (a rollback "
            "is then a cold start).",
        ),
    ] = DEFAULT_STANDBY_S,
    ready_timeout: Annotated[
        float, typer.Option("--ready-timeout", min=1.0, help="Seconds a new version has to answer /ready.")
    ] = 180.0,
    drain: Annotated[
        float, typer.Option("--drain", min=0.0, help="Most seconds the old version finishes its requests.")
    ] = 30.0,
    spare: Annotated[
        bool,
        typer.Option(
            "--spare/--no-spare",
            help="Keep one spare process with the serving stack (and the served models' libraries) "
            "imported, so a new version's shipyard serve skips its imports (most of a cold start on "
            "a busy machine); it holds that memory while idle.",
        ),
    ] = True,
    applied: Annotated[
        bool,
        typer.Option(
            "--applied",
            help="Run what `shipyard apply` (or sync) recorded for the environment in the metadata "
            "store, not the spec file as it is now.",
        ),
    ] = False,
    project: Annotated[
        str | None, typer.Option("--project", help="With --applied: the project (default: the spec's).")
    ] = None,
    branch: BranchOption = None,
) -> None:
    """Run ENVIRONMENT's deployments (from the spec, or with --applied from the applied releases)
    until interrupted."""
    if ctx.invoked_subcommand is not None:
        return
    if not environment:
        raise typer.BadParameter("name the environment to run, e.g. -e staging", param_hint="'-e'")
    import os
    import sys
    from datetime import datetime

    from shipyard.deploy.agent import (
        AgentOptions,
        AppliedState,
        DesiredState,
        SpecFileState,
        Timing,
        registry_resolver,
    )
    from shipyard.deploy.agent.main import run_agent

    if branch is not None:  # the branch's slot next to the environment, as `apply --branch` recorded it
        from shipyard.core.branches import resolve_branch, slot_name

        chosen = resolve_branch(branch)
        if chosen is not None:
            if not applied:
                raise typer.BadParameter(
                    "a branch runs what `shipyard apply -e ENV --branch B` recorded: add --applied",
                    param_hint="'--branch'",
                )
            environment = slot_name(environment, chosen)
    cli = state(ctx)
    stores = cli.stores
    desired: DesiredState = SpecFileState(file, registry_resolver(stores.metadata))
    if applied:
        from shipyard.deploy.spec.load import load_spec
        from shipyard.metadata.delivery import open_delivery_store

        name = project or load_spec(file).project.name
        desired = AppliedState(open_delivery_store(stores.metadata), name, root=file.resolve().parent)
    desired.desired(environment)  # a spec error (or nothing applied) fails here, before anything starts
    timing = Timing(standby_s=standby, ready_timeout_s=ready_timeout, drain_s=drain)
    options = AgentOptions(
        environment=environment,
        host=host,
        interval_s=interval,
        timing=timing,
        wake_check_s=wake_check,
        spare=spare,
    )

    def report(text: str) -> None:
        from shipyard.cli._output import printable

        stamp = datetime.now().strftime("%H:%M:%S")
        print(f"{stamp} {printable(text)}", file=sys.stderr, flush=True)

    source = "its applied releases" if applied else str(file)
    report(f"agent for {environment} from {source} (pid {os.getpid()}); SIGHUP reconciles now")
    run_agent(options, desired, cli.settings, stores.metadata, report)


@app.command("status")
def status(
    ctx: typer.Context,
    environment: Annotated[str, typer.Option("--environment", "-e", help="The environment.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Each deployment of ENVIRONMENT: address, state, version, backend pids."""
    from shipyard.cli._output import console, plain, print_json
    from shipyard.deploy.agent import read_status

    data = read_status(state(ctx).settings.home, environment)
    data["agent"]["alive"] = _alive(data.get("agent", {}))
    if as_json:
        print_json(data)
        return
    from rich.table import Table

    info = data["agent"]
    out = console()
    alive = "running" if info["alive"] else "NOT RUNNING"
    head = f"agent {info.get('environment')} (pid {info.get('pid')}): {alive}"
    out.print(plain(f"{head}, updated {info.get('updated_at')}"))
    if info.get("error"):
        out.print(plain(f"error: {info['error']}", "red"))
    table = Table("DEPLOYMENT", "KIND", "ADDRESS", "STATE", "VERSION", "PIDS", "ERROR")
    for name, dep in {**data.get("deployments", {}), **data.get("flows", {})}.items():
        table.add_row(*(plain(v) for v in _row(name, dep)))
    out.print(table)


def _row(name: str, dep: dict[str, Any]) -> list[str]:
    pids = [str(b["pid"]) for b in dep.get("backends", []) if b.get("pid")]
    if dep.get("pid"):
        pids.append(str(dep["pid"]))
    address = dep.get("address") or (f"cron {dep['schedule']}" if dep.get("schedule") else "-")
    return [
        name,
        str(dep.get("kind", "-")),
        address,
        str(dep.get("state", "-")),
        str(dep.get("version") or dep.get("last_exit") or "-"),
        ",".join(pids) or "-",
        str(dep.get("error") or ""),
    ]


def _alive(info: dict[str, Any]) -> bool:
    import psutil

    pid = info.get("pid")
    return bool(info.get("running")) and isinstance(pid, int) and psutil.pid_exists(pid)
