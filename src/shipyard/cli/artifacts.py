"""``shipyard artifacts``: list a run's artifacts, fetch one, and garbage-collect blobs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._output import artifact_summary, console, dumps, fmt_size, fmt_time, print_json
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.core.entities import ArtifactRecord
    from shipyard.tracking.client import TrackingClient

app = typer.Typer(help="List and fetch artifacts.", no_args_is_help=True)


@app.command("list")
def list_artifacts(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id or a unique prefix of one.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every artifact of a run (run-level and per task)."""
    client = state(ctx).client()
    full_id = client.resolve_run_id(run_id)
    records = client.list_artifacts(full_id)
    tasks = {t.id: t.key for t in client.metadata.list_tasks(full_id)} if records else {}
    if as_json:
        print_json([{**artifact_summary(a), "ref": _reference(a, tasks)} for a in records])
        return
    from rich.table import Table

    out = console()
    if not records:
        out.print(f"run {full_id} has no artifacts", style="dim")
        return
    table = Table(title=f"artifacts of run {full_id}", title_justify="left", box=None, pad_edge=False)
    for column in ("REF (for `artifacts get`)", "SERIALIZER", "SIZE", "DIGEST", "CREATED (UTC)"):
        table.add_column(column)
    for a in records:
        serializer = a.serializer + (" (unsafe: pickle)" if a.unsafe else "")
        table.add_row(
            _reference(a, tasks), serializer, fmt_size(a.size), a.digest[:12], fmt_time(a.created_at)
        )
    out.print(table)


def _reference(record: ArtifactRecord, tasks: dict[str, str]) -> str:
    """What ``artifacts get`` takes: NAME for a run's own artifact, STEP[INDEX]/NAME for a task's."""
    if record.task_id is None:
        return record.name
    return f"{tasks.get(record.task_id, record.task_id)}/{record.name}"


def _find(client: TrackingClient, run_id: str, ref: str) -> ArtifactRecord:
    """The artifact a reference names: a run-level NAME, or a task's STEP[INDEX]/NAME (STEP/NAME
    for an unmapped step). A reference that could be either is refused, naming both."""
    from shipyard.core.errors import InvalidInputError, NotFoundError

    full_id = client.resolve_run_id(run_id)
    task_key, sep, name = ref.partition("/")
    task = None
    if sep and name:
        task = next((t for t in client.metadata.list_tasks(full_id) if t.key == task_key), None)
    run_level: ArtifactRecord | None = None
    try:
        run_level = client.find_artifact(full_id, ref)
    except (NotFoundError, InvalidInputError):  # no such name, or none could be ("square[0]/x")
        if task is None:
            raise NotFoundError(
                f"run {full_id} has no artifact {ref!r}; `shipyard artifacts list {run_id}` "
                "shows each one's reference (a task's is STEP[INDEX]/NAME)"
            ) from None
    if task is None:
        assert run_level is not None
        return run_level
    try:
        of_task = client.find_artifact(full_id, name, task_id=task.id)
    except NotFoundError:
        if run_level is not None:
            return run_level
        raise NotFoundError(
            f"task {task_key} of run {full_id} has no artifact {name!r}; "
            f"`shipyard artifacts list {run_id}` lists them"
        ) from None
    if run_level is not None:
        raise InvalidInputError(
            f"{ref!r} names both a run artifact and task {task_key}'s {name!r}; "
            "rename one, or use `shipyard artifacts list --json` and the Python API"
        )
    return of_task


@app.command("get")
def get_artifact(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id or a unique prefix of one.")],
    name: Annotated[
        str,
        typer.Argument(help="The artifact: NAME, or STEP[INDEX]/NAME for a task's (see `artifacts list`)."),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it (default: ./NAME).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write an artifact to a file or folder (files and folders as they were, objects as stored bytes);
    a task's artifact is STEP[INDEX]/NAME, e.g. square[3]/output.

    JSON artifacts are printed to stdout when no --output is given.
    """
    from shipyard.core.errors import InvalidInputError
    from shipyard.tracking.client import stored_object

    client = state(ctx).client()
    record = _find(client, run_id, name)
    name = record.name
    stored = stored_object(record)
    if output is None and record.serializer == "json":
        value = client.artifacts.get_object(stored, name=name, allow_unsafe=False)
        typer.echo(dumps(value))
        return
    dest = output if output is not None else Path(Path(name).name)
    if dest.exists() and not force:
        raise InvalidInputError(f"{str(dest)!r} already exists; pass --force to overwrite or -o to choose")
    client.artifacts.get_to_path(stored, dest, name=name)
    console().print(f"wrote {name} ({record.serializer}, {fmt_size(record.size)}) to {dest}", markup=False)


@app.command("gc")
def gc_blobs(
    ctx: typer.Context,
    min_age: Annotated[
        str, typer.Option("--min-age", help="Keep unreferenced blobs younger than this (45s, 90m, 12h, 30d).")
    ] = "24h",
    temp_min_age: Annotated[
        str,
        typer.Option(
            "--temp-min-age",
            help="Remove temp files and unfinished S3 uploads of killed writers idle this long (1h).",
        ),
    ] = "1h",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be deleted; delete nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete artifact blobs that no run, model version, lineage record or reference profile points
    at any more (e.g. after `shipyard runs delete`), and the temp files and unfinished S3 uploads
    of killed writers. Run it where the stores are, not via a server."""
    from shipyard.security.tokens import parse_duration
    from shipyard.tracking.gc import collect_garbage

    age, temp_age = parse_duration(min_age), parse_duration(temp_min_age)
    report = collect_garbage(
        state(ctx).stores,
        min_age_s=age.total_seconds(),
        dry_run=dry_run,
        temp_min_age_s=temp_age.total_seconds(),
    )
    if as_json:
        print_json(dataclasses.asdict(report))
        return
    verb = "would delete" if dry_run else "deleted"
    console().print(
        f"{verb} {report.deleted} blob(s), {fmt_size(report.deleted_bytes)}; kept {report.referenced} "
        f"referenced and {report.young} younger than {min_age} (of {report.blobs})",
        markup=False,
    )
    if report.temp_files or report.uploads_aborted:
        verb = "would remove" if dry_run else "removed"
        console().print(
            f"{verb} {report.temp_files} temp file(s) of killed writers, {fmt_size(report.temp_bytes)}; "
            f"{'would abort' if dry_run else 'aborted'} {report.uploads_aborted} unfinished upload(s), "
            f"{fmt_size(report.upload_bytes)}",
            markup=False,
        )
