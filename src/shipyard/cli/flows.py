"""Flow commands: ``run``, ``resume``, ``logs`` and ``flows list`` (registered by cli.main)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli.branches import BranchOption
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.runtime.api import FlowRun, RunOptions

flows_app = typer.Typer(help="Flows seen in runs.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("resume")(resume_command)
    app.command("logs")(logs_command)
    app.add_typer(flows_app, name="flows")


def _options(
    max_workers: int | None,
    quiet: bool,
    as_json: bool,
    title: str,
    *,
    executor: str | None = None,
    ray_address: str | None = None,
    start_method: str | None = None,
) -> tuple[RunOptions, Any]:
    from shipyard.runtime.api import RunOptions

    name = executor or ("ray" if ray_address else "local")
    if ray_address and name != "ray":
        raise typer.BadParameter("--ray-address needs --executor ray", param_hint="--ray-address")
    if start_method and name != "local":
        raise typer.BadParameter("--start-method is for the local executor", param_hint="--start-method")
    extra: dict[str, Any] = {"address": ray_address} if ray_address else {}
    if start_method:
        extra["start_method"] = start_method
    options = RunOptions(max_workers=max_workers, executor=name, executor_options=extra)
    if quiet or as_json or not sys.stderr.isatty():
        return options, None
    from rich.console import Console

    from shipyard.runtime.render import ProgressView

    view = ProgressView(Console(stderr=True), title)
    options.progress = view
    return options, view


def _finish(ctx: typer.Context, run: FlowRun, as_json: bool, quiet: bool) -> None:
    """End of ``run``/``resume`` (:func:`shipyard.cli._run_summary.finish_run`, shared with the
    fast path): the run id alone with ``--quiet``, else a summary; the exit code."""
    from shipyard.cli._run_summary import finish_run

    cli = state(ctx)
    client = cli.client()
    code = finish_run(run, client.metadata, client.artifacts, cli.settings.metadata_uri, as_json, quiet)
    if code:
        raise typer.Exit(code)


def _parse_tags(items: list[str]) -> dict[str, str]:
    from shipyard.core.names import validate_key

    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(
                f"tag {item!r} is not KEY=VALUE (e.g. --tag team=fraud)", param_hint="--tag"
            )
        key = key.strip()
        if key.startswith("shipyard."):
            raise typer.BadParameter(f"tag {key!r}: the shipyard. prefix is reserved", param_hint="--tag")
        tags[validate_key("tag", key)] = value
    return tags


MaxWorkers = Annotated[
    int | None, typer.Option("--max-workers", "-w", help="Parallel tasks (default: cores).")
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress display; print only the run id (for scripts).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ExecutorName = Annotated[
    str | None, typer.Option("--executor", "-e", help="Where tasks run: local (default) or ray.")
]
StartMethod = Annotated[
    str | None,
    typer.Option(
        "--start-method",
        help="How local workers start: fork (default on Linux) or spawn (default elsewhere).",
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Ray cluster HOST:PORT (implies --executor ray; default: RAY_ADDRESS, else a local Ray).",
    ),
]


def run_command(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="The flow file (a Python file with one @flow), or a notebook (.ipynb): a one-step "
            "flow whose parameters are its parameters cell's."
        ),
    ],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A flow parameter, KEY=VALUE.")
    ] = None,
    flow_name: Annotated[
        str | None, typer.Option("--flow", help="Which flow, when the file has several.")
    ] = None,
    run_name: Annotated[
        str | None, typer.Option("--name", help="The run's name (default: FLOW-<end of the run id>).")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="A run tag, KEY=VALUE; repeatable.")
    ] = None,
    max_workers: MaxWorkers = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
    executor: ExecutorName = None,
    ray_address: RayAddress = None,
    start_method: StartMethod = None,
    branch: BranchOption = None,
) -> None:
    """Run a flow: `shipyard run flow.py -p n=100`. Ends with a summary (-q: only the run id).

    With --branch its run goes to the branch's namespace project:P/branch:B."""
    from shipyard.cli.branches import use_branch
    from shipyard.flows.params import parse_cli_params

    use_branch(ctx, branch)
    from shipyard.runtime.api import run_file

    params = parse_cli_params(param or [])
    options, view = _options(
        max_workers,
        quiet,
        as_json,
        f"{file.name}",
        executor=executor,
        ray_address=ray_address,
        start_method=start_method,
    )
    options.tags = _parse_tags(tag or [])
    if run_name is not None:
        from shipyard.core.names import validate_name

        options.name = validate_name("run", run_name, new=True)
    settings = state(ctx).settings
    if view is None:
        run = run_file(file, params, settings, options, flow_name)
    else:
        with view:
            run = run_file(file, params, settings, options, flow_name)
    _finish(ctx, run, as_json, quiet)


def resume_command(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The failed run (id or unique prefix).")],
    max_workers: MaxWorkers = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
    executor: ExecutorName = None,
    ray_address: RayAddress = None,
    start_method: StartMethod = None,
) -> None:
    """Rerun a failed run's failed steps and everything downstream, reusing what succeeded."""
    from shipyard.runtime.api import resume

    options, view = _options(
        max_workers,
        quiet,
        as_json,
        f"resume {run_id}",
        executor=executor,
        ray_address=ray_address,
        start_method=start_method,
    )
    settings = state(ctx).settings
    if view is None:
        run = resume(run_id, settings, options)
    else:
        with view:
            run = resume(run_id, settings, options)
    _finish(ctx, run, as_json, quiet)


def logs_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id or unique prefix.")],
    task: Annotated[str | None, typer.Argument(help="STEP or STEP/INDEX (e.g. square/3).")] = None,
    attempt: Annotated[
        int | None,
        typer.Option("--attempt", min=1, help="Show this attempt's logs (a retried task keeps each)."),
    ] = None,
) -> None:
    """Print the captured stdout/stderr of a run's tasks (a failed task: its last attempt's)."""
    from shipyard.cli._output import printable
    from shipyard.runtime.api import resolve_run_id
    from shipyard.runtime.logs import task_logs
    from shipyard.runtime.stores import open_run_stores

    stores = open_run_stores(state(ctx).settings)
    try:
        full_id = resolve_run_id(stores, run_id)
        entries = task_logs(stores, full_id, task, attempt)
        out = sys.stdout
        for entry in entries:
            if not entry.stdout and not entry.stderr and len(entries) > 1:
                continue
            # captured output is stored data: control sequences are shown, never sent to the terminal
            tried = f", attempt {entry.attempt} of {entry.task.attempts}" if entry.task.attempts > 1 else ""
            out.write(printable(f"==> {entry.task.key} [{entry.task.status.value}{tried}] <==") + "\n")
            out.write(printable(entry.stdout.decode(errors="replace"), multiline=True))
            if entry.stderr:
                out.write(printable(entry.stderr.decode(errors="replace"), multiline=True))
            if entry.task.error and entry.task.status.value == "failed" and attempt is None:
                out.write(printable(entry.task.error.rstrip(), multiline=True) + "\n")
        out.flush()
    finally:
        stores.close()


@flows_app.command("list")
def list_flows(
    ctx: typer.Context,
    as_json: AsJson = False,
) -> None:
    """Flows seen in runs, with their last run and its status."""
    from shipyard.runtime.api import fail_stale
    from shipyard.runtime.stores import open_run_stores

    settings = state(ctx).settings
    stores = open_run_stores(settings)
    try:
        fail_stale(stores)
        page = stores.metadata.search_runs(namespaces=[settings.read_namespace], max_results=1000)
        last: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for run in page.runs:  # newest first
            if run.flow_name is None:
                continue
            counts[run.flow_name] = counts.get(run.flow_name, 0) + 1
            last.setdefault(run.flow_name, run)
    finally:
        stores.close()
    rows = [
        {
            "flow": name,
            "runs": counts[name],
            "last_run": run.id,
            "status": run.status.value,
            "started": run.start_time.isoformat(timespec="seconds"),
            "file": (run.flow_spec or {}).get("file"),
        }
        for name, run in sorted(last.items())
    ]
    if as_json:
        from shipyard.cli._output import print_json

        print_json(rows)
        return
    from rich.table import Table

    from shipyard.cli._output import console

    table = Table(box=None)
    for col in ("flow", "runs", "last_run", "status", "started", "file"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("flow", "runs", "last_run", "status", "started", "file")))
    console().print(table)
