"""``shipyard data``: datasets: add (snapshot), list, versions, show, diff, get, alias,
delete-version, lineage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli._output import console, fmt_size, fmt_time, line, plain, print_json, to_jsonable
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.data.service import DatasetService
    from shipyard.metadata.datasets import DatasetVersion

app = typer.Typer(help="Datasets: versioned, content-addressed snapshots.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SpecArg = Annotated[str, typer.Argument(help="NAME, NAME/VERSION, NAME@ALIAS or datasets:/...")]


def _service(ctx: typer.Context) -> DatasetService:
    from shipyard.data.service import DatasetService

    return DatasetService(state(ctx).stores)


def _version_json(v: DatasetVersion) -> dict[str, Any]:
    return {**to_jsonable(v), "uri": v.uri}


def _rows(v: DatasetVersion) -> str:
    return "-" if v.num_rows is None else f"{v.num_rows:,}"


@app.command("add")
def add(  # noqa: PLR0917 (typer options)
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset's name.")],
    path: Annotated[str, typer.Argument(help="A Parquet/CSV file, a folder, or s3://bucket/prefix.")],
    description: Annotated[str, typer.Option("--description", "-d", help="What this version is.")] = "",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Tag a column: COLUMN=TAG (e.g. email=pii); repeatable.")
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="The project a new dataset goes into.")
    ] = None,
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    durable: Annotated[
        bool,
        typer.Option(
            "--durable",
            help="Wait until large files are on the disk (fsync) before recording the version; by "
            "default the kernel writes them back shortly after, as after cp.",
        ),
    ] = False,
) -> None:
    """Snapshot PATH as the next version of NAME (unchanged files are not stored again)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from shipyard.core.errors import InvalidInputError

    tags: dict[str, list[str]] = {}
    for item in tag or ():
        column, sep, value = item.partition("=")
        if not sep or not column or not value:
            raise InvalidInputError(f"--tag {item!r}: expected COLUMN=TAG, e.g. --tag email=pii")
        tags.setdefault(column, []).append(value)
    source = path if path.startswith("s3://") else Path(path)
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn()]
    console_err = Console(stderr=True)
    with Progress(*columns, console=console_err, disable=quiet, transient=True, redirect_stdout=False) as bar:
        task = bar.add_task(f"snapshot {name}", total=None)
        result = _service(ctx).snapshot(
            name,
            source,
            description=description,
            column_tags=tags or None,
            project=project,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            durable=durable,
        )
    v = result.version
    if as_json:
        print_json({**_version_json(v), "blobs_written": result.written})
        return
    console().print(
        line(
            "added ",
            plain(v.uri, "bold"),
            f": {v.num_files} file(s), {fmt_size(v.size)}, {_rows(v)} rows; ",
            f"{result.written} new blob(s) stored",
        )
    )


@app.command("list")
def list_datasets(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every dataset with its latest version and aliases."""
    found = _service(ctx).store.list_datasets()
    if as_json:
        print_json(found)
        return
    from rich.table import Table

    out = console()
    if not found:
        out.print("no datasets yet: `shipyard data add NAME PATH` creates one", style="dim", markup=False)
        return
    table = Table(title="datasets", title_justify="left", box=None, pad_edge=False)
    for column in ("NAME", "LATEST", "ALIASES", "PROJECT", "UPDATED (UTC)"):
        table.add_column(column)
    for d in found:
        aliases = ", ".join(f"@{a}={v}" for a, v in sorted(d.aliases.items())) or "-"
        latest = "-" if d.latest_version is None else str(d.latest_version)
        table.add_row(plain(d.name), latest, plain(aliases), plain(d.project or "-"), fmt_time(d.updated_at))
    out.print(table)


@app.command("versions")
def versions(ctx: typer.Context, name: str, as_json: JsonOpt = False) -> None:
    """A dataset's versions, oldest first."""
    found = _service(ctx).store.list_versions(name)
    if as_json:
        print_json([_version_json(v) for v in found])
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("VERSION", "ALIASES", "KIND", "FILES", "SIZE", "ROWS", "CREATED (UTC)", "DESCRIPTION"):
        table.add_column(column)
    for v in found:
        table.add_row(
            str(v.version),
            plain(", ".join("@" + a for a in v.aliases) or "-"),
            v.kind,
            str(v.num_files),
            fmt_size(v.size),
            _rows(v),
            fmt_time(v.created_at),
            plain(v.description[:60] or "-"),
        )
    console().print(table)


@app.command("show")
def show(ctx: typer.Context, spec: SpecArg, as_json: JsonOpt = False) -> None:
    """One version: schema with column tags, statistics, files."""
    service = _service(ctx)
    v = service.resolve(spec)
    if as_json:
        print_json({**_version_json(v), "files": service.files(v)})
        return
    out = console()
    out.print(
        line(
            plain(v.uri, "bold"), f"  {v.kind} ({v.source_format}), {v.num_files} file(s), ", fmt_size(v.size)
        )
    )
    out.print(line(f"rows: {_rows(v)}   created {fmt_time(v.created_at)} by ", plain(v.created_by)))
    if v.aliases:
        out.print(line("aliases: ", plain(", ".join("@" + a for a in v.aliases))))
    if v.description:
        out.print(line("description: ", plain(v.description)))
    if v.columns:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in ("COLUMN", "TYPE", "TAGS", "NULLS", "MIN", "MAX", "MEAN"):
            table.add_column(column)
        for c in v.columns:
            st = v.stats.get(c["name"], {})
            table.add_row(
                *(plain(x) for x in (c["name"], c["type"], ", ".join(c.get("tags", [])) or "-")),
                *(plain("-" if st.get(k) is None else st[k]) for k in ("nulls", "min", "max", "mean")),
            )
        out.print(table)


@app.command("diff")
def diff(ctx: typer.Context, old: SpecArg, new: SpecArg, as_json: JsonOpt = False) -> None:
    """What changed from OLD to NEW: schema, rows, files, column statistics."""
    service = _service(ctx)
    d = service.diff(service.resolve(old), service.resolve(new))
    if as_json:
        print_json(d)
        return
    out = console()
    out.print(line(plain(d.old, "bold"), " -> ", plain(d.new, "bold")))
    if d.unchanged:
        out.print("no changes", style="dim", markup=False)
    out.print(
        line(f"rows: {d.rows[0]} -> {d.rows[1]}   size: {fmt_size(d.size[0])} -> {fmt_size(d.size[1])}")
    )
    for label, items in (
        ("columns added", d.columns_added),
        ("columns removed", d.columns_removed),
        ("files added", d.files_added),
        ("files removed", d.files_removed),
        ("files changed", d.files_changed),
    ):
        if items:
            shown = ", ".join(items[:20]) + (f" ... ({len(items)} in all)" if len(items) > 20 else "")
            out.print(line(f"{label}: ", plain(shown)))
    for column, change in d.columns_changed.items():
        out.print(line("column ", plain(column), ": ", plain(change)))
    for column, stats in d.stats_changed.items():
        text = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in stats.items())
        out.print(line("stats ", plain(column), ": ", plain(text)))


@app.command("get")
def get(
    ctx: typer.Context,
    spec: SpecArg,
    dest: Annotated[Path, typer.Argument(help="The folder to write the version's files into.")],
) -> None:
    """Write a version's files (verified) into DEST."""
    service = _service(ctx)
    v = service.resolve(spec)
    service.load(v, output="path", dest=dest)
    console().print(line(f"wrote {v.num_files} file(s) of ", plain(v.uri), " to ", plain(str(dest))))


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: str,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS")],
    version: Annotated[int | None, typer.Argument(help="The version it points at.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
) -> None:
    """Point NAME@ALIAS at VERSION (or remove it with --delete)."""
    from shipyard.core.errors import InvalidInputError

    service = _service(ctx)
    if delete:
        service.store.delete_alias(name, alias_name)
        console().print(line("removed ", plain(f"{name}@{alias_name}")))
        return
    if version is None:
        raise InvalidInputError(f"give the version {name}@{alias_name} points at, or --delete")
    v = service.set_alias(name, alias_name, version)
    console().print(line(plain(f"{name}@{alias_name}"), " -> ", plain(v.uri)))


@app.command("delete-version")
def delete_version(ctx: typer.Context, name: str, version: int) -> None:
    """Delete a version's record (its blobs go at the next `shipyard artifacts gc`)."""
    _service(ctx).store.delete_version(name, version)
    console().print(line("deleted ", plain(f"datasets:/{name}/{version}")))


@app.command("lineage")
def lineage(ctx: typer.Context, spec: SpecArg, as_json: JsonOpt = False) -> None:
    """Which runs read or wrote a version, and which model versions came from runs that read it."""
    found = _service(ctx).lineage(_service(ctx).resolve(spec))
    if as_json:
        print_json({"uri": found.version.uri, "uses": found.uses, "models": [m.uri for m in found.models]})
        return
    out = console()
    out.print(line(plain(found.version.uri, "bold")))
    if not found.uses:
        out.print("no run has read or written it", style="dim", markup=False)
    for u in found.uses:
        task = f" task {u.task_id}" if u.task_id else ""
        out.print(line(f"  {u.direction:<6} run ", plain(u.run_id), plain(task), f"  {fmt_time(u.at)}"))
    for m in found.models:
        out.print(line("  model  ", plain(m.uri), " (from run ", plain(m.run_id or "-"), ")"))
