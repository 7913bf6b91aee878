"""``shipyard import mlflow --from URI``: bring an MLflow tracking store's history into shipyard
(registered by cli.main; the work is :mod:`shipyard.importers.mlflow_import`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.importers.counts import Summary

app = typer.Typer(help="Import history from another platform.", no_args_is_help=True)


@app.command("mlflow")
def mlflow_command(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="The MLflow tracking store: a file-store folder or file: URI, a database URI "
            "(sqlite:///mlflow.db, postgresql://...) or a running server (http://host:5000).",
        ),
    ],
    experiments: Annotated[
        str | None,
        typer.Option(
            "--experiments", help="Only these experiments, comma-separated names (default: all active)."
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="Put every run in namespace project:P and every model in project P (default: an "
            "experiment E becomes namespace mlflow:E, models go to the server scope).",
        ),
    ] = None,
    approve_protected: Annotated[
        bool,
        typer.Option(
            "--approve-protected-aliases",
            help="Approve the versions MLflow aliases point at where that alias is protected in "
            "shipyard (champion): MLflow has no approvals, so the alias alone stands for one.",
        ),
    ] = False,
    no_models: Annotated[bool, typer.Option("--no-models", help="Skip the model registry.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be imported; write nothing.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Copy experiments, runs (params, tags, every metric point, artifacts) and registered models
    (versions, aliases) from MLflow. Rerun it to resume: what is imported is skipped."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shipyard.importers.mlflow_import import ImportOptions, MlflowImporter
    from shipyard.importers.mlflow_source import MlflowSource

    names = tuple(n.strip() for n in (experiments or "").split(",") if n.strip())
    options = ImportOptions(
        experiments=names,
        project=project,
        dry_run=dry_run,
        models=not no_models,
        approve_protected=approve_protected,
    )
    mlflow_source = MlflowSource(source)  # a bad URI fails here, before any store is opened
    stores = state(ctx).stores
    console = Console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, disable=quiet, transient=True) as bar:
        view = _RichProgress(bar)
        summary = MlflowImporter(mlflow_source, stores, options, view).run()
    _print(summary, mlflow_source.label, json_out)


class _RichProgress:
    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.task: Any = None

    def stage(self, name: str, total: int | None) -> None:
        from shipyard.cli._output import printable

        if self.task is not None:
            self.bar.update(self.task, visible=False)
        self.task = self.bar.add_task(printable(name)[:60], total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)


def _print(summary: Summary, label: str, json_out: bool) -> None:
    from shipyard.cli._output import console, dumps, line

    if json_out:
        payload = {
            "source": label,
            "dry_run": summary.dry_run,
            "source_counts": summary.source.as_dict(),
            "imported_counts": summary.imported.as_dict(),
            "written": summary.written.as_dict(),
            "skipped_runs": summary.skipped_runs,
            "resumed_runs": summary.resumed_runs,
        }
        typer.echo(dumps(payload))
        return
    from rich.table import Table

    out = console()
    title = "would import (dry run)" if summary.dry_run else "imported"
    out.print(line(f"MLflow {label}: {title}"))
    table = Table()
    table.add_column("what")
    table.add_column("in MLflow", justify="right")
    if not summary.dry_run:
        table.add_column("in shipyard", justify="right")
        table.add_column("written now", justify="right")
    src, dst, new = summary.source.as_dict(), summary.imported.as_dict(), summary.written.as_dict()
    for key, value in src.items():
        row = [key.replace("_", " "), f"{value:,}"]
        if not summary.dry_run:
            row += [f"{dst[key]:,}", f"{new[key]:,}"]
        table.add_row(*row)
    out.print(table)
    if summary.skipped_runs or summary.resumed_runs:
        out.print(
            line(
                f"{summary.skipped_runs} runs were imported before (skipped), {summary.resumed_runs} resumed"
            )
        )
