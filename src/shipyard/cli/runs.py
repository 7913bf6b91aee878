"""``shipyard runs``: list, show, delete and garbage-collect runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli._output import (
    artifact_summary,
    code_package_text,
    console,
    dumps,
    fmt_duration,
    fmt_size,
    fmt_time,
    fmt_value,
    from_markup,
    line,
    plain,
    print_json,
    run_summary,
    styled_status,
    task_summary,
)
from shipyard.cli._run_summary import OUTPUT_ARTIFACT
from shipyard.cli._runs_table import print_runs
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.core.entities import ArtifactRecord, Run, RunStatus, Task
    from shipyard.tracking.client import TrackingClient

app = typer.Typer(help="List and inspect runs.", no_args_is_help=True)


_STATUSES = ("running", "succeeded", "failed", "cancelled")


def _parse_status(value: str | None) -> list[RunStatus] | None:
    if value is None:
        return None
    from shipyard.core.entities import RunStatus

    text = value.strip().lower()
    if text not in _STATUSES:
        raise typer.BadParameter(f"{value!r} is not a run status; use one of {', '.join(_STATUSES)}")
    return [RunStatus(text)]


@app.command("list")
def list_runs(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace to read.")] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Read every namespace.")
    ] = False,
    filter: Annotated[str | None, typer.Option("--filter", "-f", help='e.g. "metrics.acc > 0.9"')] = None,
    flow: Annotated[str | None, typer.Option("--flow", help="Only runs of this flow.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="running|succeeded|failed|cancelled")
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", help='e.g. "metrics.acc DESC"; repeatable')
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="At most this many runs.")] = 50,
    columns: Annotated[
        str | None,
        typer.Option("--columns", "-c", help="More columns, e.g. metrics.loss,params.lr,tags.team."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Runs in your namespace (newest first), or in --namespace / --all-namespaces."""
    if namespace is not None and all_namespaces:
        raise typer.BadParameter("use either --namespace or --all-namespaces, not both")
    statuses = _parse_status(status)
    extra = _parse_columns(columns)
    cli = state(ctx)
    namespaces = None if all_namespaces else [namespace or cli.settings.read_namespace]
    runs = cli.client().search_runs(
        namespaces=namespaces,
        filter=filter,
        order_by=order_by or (),
        max_results=limit,
        flow_name=flow,
        statuses=statuses,
    )
    if as_json:
        print_json([run_summary(r) for r in runs])
        return
    where = "all namespaces" if namespaces is None else namespaces[0]
    print_runs(runs, where, extra, cli.settings.metadata_uri)


_COLUMN_KINDS = ("metrics", "params", "tags")


def _parse_columns(value: str | None) -> list[tuple[str, str]]:
    """``metrics.loss,params.lr`` -> [("metrics", "loss"), ("params", "lr")] (keys may hold dots)."""
    if not value:
        return []
    found = []
    for item in (part.strip() for part in value.split(",")):
        kind, _, key = item.partition(".")
        if kind not in _COLUMN_KINDS or not key:
            raise typer.BadParameter(
                f"column {item!r} is not KIND.KEY; use metrics.KEY, params.KEY or tags.KEY "
                "(e.g. --columns metrics.loss,params.lr)",
                param_hint="--columns",
            )
        found.append((kind, key))
    return found


@app.command("compare")
def compare_runs(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids or unique prefixes.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Params and latest metrics of runs side by side; rows that differ are marked with *."""
    if len(run_ids) < 2:
        raise typer.BadParameter("give two or more runs to compare, e.g. `shipyard runs compare A B`")
    client = state(ctx).client()
    runs = [client.get_run(run_id) for run_id in run_ids]
    rows = _comparison(runs)
    if as_json:
        print_json(
            {
                "runs": [r.id for r in runs],
                "rows": [
                    {"section": sec, "key": key, "values": vals, "differs": diff}
                    for sec, key, vals, diff in rows
                ],
            }
        )
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    table.add_column("")
    table.add_column("KEY")
    for run in runs:
        table.add_column(f"{run.name} ({run.id[:12]})")
    section = ""
    for sec, key, values, differs in rows:
        if sec != section:
            section = sec
            table.add_row("", plain(sec, "bold"), *("" for _ in runs))
        style = "yellow" if differs else ""
        table.add_row(
            "*" if differs else "",
            plain(key, style),
            *(plain("-" if v is None else fmt_value(v), style) for v in values),
        )
    console().print(table)


def _comparison(runs: list[Run]) -> list[tuple[str, str, list[Any], bool]]:
    """(section, key, one value per run (None where a run lacks the key), differs) rows."""
    rows: list[tuple[str, str, list[Any], bool]] = [
        ("run", "status", [r.status.value for r in runs], len({r.status for r in runs}) > 1),
        ("run", "flow", [r.flow_name for r in runs], len({r.flow_name for r in runs}) > 1),
        ("run", "duration", [fmt_duration(r.duration_s) for r in runs], False),
    ]
    for section in ("params", "metrics"):
        mappings: list[dict[str, Any]] = [run.params if section == "params" else run.metrics for run in runs]
        for key in sorted({key for mapping in mappings for key in mapping}):
            values = [mapping.get(key) for mapping in mappings]
            shown = {dumps(mapping[key]) if key in mapping else None for mapping in mappings}
            rows.append((section, key, values, len(shown) > 1))
    return rows


@app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id or a unique prefix of one.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    graph: Annotated[bool, typer.Option("--graph", help="Draw a flow run's DAG with task statuses.")] = False,
    every_task: Annotated[
        bool, typer.Option("--tasks", help="List every task (by default a fan-out step is one line).")
    ] = False,
) -> None:
    """A run: status, output and error first, then params, tags, latest metrics, steps and artifacts.

    A fan-out step is one line with its task counts by status; --tasks lists every task."""
    client = state(ctx).client()
    run = client.get_run(run_id)
    tasks = client.metadata.list_tasks(run.id)
    if graph:
        from shipyard.runtime.render import render_run_graph

        console().print(from_markup(render_run_graph(run, tasks)))
        return
    artifacts = client.metadata.list_artifacts(run.id)
    shown, output = _load_output(client, artifacts)
    if as_json:
        data = run_summary(run)
        data["tasks"] = [task_summary(t) for t in tasks]
        data["artifacts"] = [artifact_summary(a) for a in artifacts]
        data["output"] = output if shown else None
        print_json(data)
        return
    _print_run(run, tasks, artifacts, shown, output, every_task=every_task)


def _load_output(client: TrackingClient, artifacts: list[ArtifactRecord]) -> tuple[bool, Any]:
    """The run-level ``output`` artifact if it is small, safe to load and JSON-able."""
    record = next((a for a in artifacts if a.name == OUTPUT_ARTIFACT and a.task_id is None), None)
    return load_output_record(client, record)


def load_output_record(client: TrackingClient, record: ArtifactRecord | None) -> tuple[bool, Any]:
    """(shown, value) of a run's ``output`` record: loaded only when small, safe and JSON-able."""
    from shipyard.cli._run_summary import load_output

    return load_output(client.artifacts, record)


def _print_run(
    run: Run,
    tasks: list[Task],
    artifacts: list[ArtifactRecord],
    shown: bool,
    output: Any,
    *,
    every_task: bool = False,
) -> None:
    out = console()
    out.print(line((run.name, "bold"), "  ", run.id, "  ", styled_status(run.status.value)))
    if shown:  # what the user came for first: the result, or why there is none
        out.print("output", style="bold")
        out.print(plain(dumps(output), multiline=True))
    if run.error:
        out.print("error", style="bold red")
        out.print(plain(run.error, multiline=True))
    rows = [
        ("namespace", run.namespace),
        ("user", run.user),
        ("flow", run.flow_name or "-"),
        ("started (UTC)", fmt_time(run.start_time)),
        ("ended (UTC)", fmt_time(run.end_time)),
        ("duration", fmt_duration(run.duration_s)),
    ]
    if run.code_version is not None:
        cv = run.code_version
        commit = (cv.git_commit or "-")[:12] + (" (dirty)" if cv.git_dirty else "")
        rows.append(("code", f"git {commit}, source {(cv.source_hash or '-')[:12]}"))
    package = code_package_text(run)
    if package:
        rows.append(("code package", package))
    if run.origin_run_id:
        rows.append(("resumed from", run.origin_run_id))
    for label, value in rows:
        out.print(f"  {label:<14} {value}", markup=False)

    _print_mapping(out, "params", run.params)
    _print_mapping(out, "tags", run.tags)
    _print_mapping(out, "metrics (latest)", run.metrics)
    if tasks:
        out.print(_task_table(tasks) if every_task else _step_table(tasks))
    if artifacts:
        out.print(_artifact_table(artifacts, tasks, every_task=every_task))


def _task_table(tasks: list[Task]) -> Any:
    from rich.table import Table

    table = Table(title="tasks", title_justify="left", box=None, pad_edge=False)
    for column in ("STEP", "INDEX", "STATUS", "ATTEMPTS", "DURATION", "NODE"):
        table.add_column(column)
    for task in tasks:
        table.add_row(
            task.step,
            "-" if task.index is None else str(task.index),
            styled_status(task.status.value),
            str(task.attempts),
            fmt_duration(task.duration_s),
            task.node or "-",
        )
    return table


def _step_table(tasks: list[Task]) -> Any:
    """One line per step, in the order the steps first ran: a fan-out's tasks counted by status,
    its wall time from the first start to the last end, the most attempts any task took."""
    from rich.table import Table

    steps: dict[str, list[Task]] = {}
    for task in tasks:
        steps.setdefault(task.step, []).append(task)
    folded = any(len(group) > 1 for group in steps.values())
    title = "steps (shipyard runs show ID --tasks lists every task)" if folded else "steps"
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column in ("STEP", "TASKS", "STATUS", "ATTEMPTS", "DURATION", "NODE"):
        table.add_column(column)
    for step, group in steps.items():
        counts: dict[str, int] = {}
        for task in group:
            counts[task.status.value] = counts.get(task.status.value, 0) + 1
        if len(counts) == 1 and len(group) == 1:
            status = styled_status(group[0].status.value)
        else:
            status = line(
                *(part for value, n in counts.items() for part in (f"{n} ", styled_status(value), "  "))
            )
        starts = [t.started_at for t in group if t.started_at is not None]
        ends = [t.ended_at for t in group if t.ended_at is not None]
        span = (max(ends) - min(starts)).total_seconds() if starts and len(ends) == len(group) else None
        nodes = sorted({t.node for t in group if t.node})
        table.add_row(
            step,
            str(len(group)),
            status,
            str(max(t.attempts for t in group)),
            fmt_duration(span),
            ", ".join(nodes[:3]) + (f" +{len(nodes) - 3}" if len(nodes) > 3 else "") or "-",
        )
    return table


def _artifact_table(artifacts: list[ArtifactRecord], tasks: list[Task], *, every_task: bool) -> Any:
    """The run's artifacts; unless ``every_task``, a fan-out step's are one line per name."""
    from rich.table import Table

    table = Table(title="artifacts", title_justify="left", box=None, pad_edge=False)
    for column in ("NAME", "TASK", "SERIALIZER", "SIZE"):
        table.add_column(column)
    by_id = {t.id: t for t in tasks}
    fanned = {step for step in {t.step for t in tasks} if sum(t.step == step for t in tasks) > 1}
    groups: dict[tuple[str, str], list[ArtifactRecord]] = {}
    for a in artifacts:
        task = by_id.get(a.task_id) if a.task_id else None
        if not every_task and task is not None and task.step in fanned:
            groups.setdefault((task.step, a.name), []).append(a)
            continue
        where = (task.key if task else a.task_id[:12]) if a.task_id else "-"
        table.add_row(a.name, where, a.serializer + (" (unsafe)" if a.unsafe else ""), fmt_size(a.size))
    for (step, name), group in groups.items():
        serializers = sorted({a.serializer for a in group})
        table.add_row(
            name,
            f"{step}[*] ({len(group)} tasks)",
            ", ".join(serializers),
            fmt_size(sum(a.size for a in group)),
        )
    return table


def _print_mapping(out: Any, title: str, values: dict[str, Any]) -> None:
    if not values:
        return
    out.print(title, style="bold")
    width = min(max(len(k) for k in values), 40)
    for key in sorted(values):
        out.print(f"  {key:<{width}} {fmt_value(values[key])}", markup=False)


@app.command("gc")
def gc_runs(ctx: typer.Context) -> None:
    """Mark failed every running run whose heartbeat stopped (its process died)."""
    cli = state(ctx)
    failed = cli.client().reap_stale_runs()
    console().print(
        f"marked {len(failed)} run(s) failed (no heartbeat for {cli.settings.heartbeat_timeout_s:g}s)"
    )
    for run_id in failed:
        console().print(f"  {run_id}", markup=False)


@app.command("delete")
def delete_runs(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Run ids or unique prefixes.")],
    force: Annotated[bool, typer.Option("--force", help="Delete runs that are still running too.")] = False,
) -> None:
    """Delete runs' records. Their blobs stay until `shipyard artifacts gc`; model versions
    registered from them keep their packages."""
    client = state(ctx).client()
    runs = [client.get_run(run_id) for run_id in run_ids]  # every id is checked before any delete
    for run in runs:
        client.delete_run(run.id, force=force)
        console().print(f"deleted run {run.id} ({run.name})", markup=False)
