"""``shipyard features apply | list | show | materialize``: the project's feature views.

``apply`` imports the project's definitions file (``features.py`` by default: the user's own code,
named on the command line) and registers each view's spec in the metadata store — an unchanged
view stays at its version, a changed one gets the next, and the changes are printed.
``materialize`` loads the newest values into the online store (``SHIPYARD_ONLINE_STORE``, by
default ``online.db`` in SHIPYARD_HOME).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._output import console, fmt_time, plain, print_json
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.features.store import FeatureStore
    from shipyard.metadata.features import FeatureRecords

app = typer.Typer(help="Feature views: apply, list, show, materialize.", no_args_is_help=True)

_FILE = Annotated[Path, typer.Argument(help="The definitions file (default: features.py).")]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _say(text: str) -> None:
    console().print(plain(text), highlight=False)


def _records(ctx: typer.Context) -> FeatureRecords:
    from shipyard.metadata.features import open_feature_records

    return open_feature_records(state(ctx).stores.metadata)


def _store(ctx: typer.Context, file: Path) -> FeatureStore:
    from shipyard.features.store import FeatureStore

    settings = state(ctx).settings
    return FeatureStore.from_file(file, online=settings.online_store_uri, stores=state(ctx).stores)


def _when(text: str | None, what: str) -> datetime | None:
    from shipyard.core.errors import InvalidInputError

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{what} {text!r} is not a time: use ISO 8601, e.g. 2026-01-31T12:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("apply")
def apply(ctx: typer.Context, file: _FILE = Path("features.py")) -> None:
    """Register the file's feature views (versioned; prints what changed)."""
    from shipyard.core.errors import NotFoundError
    from shipyard.features.diff import spec_changes

    store = _store(ctx, file)
    records = _records(ctx)
    settings = state(ctx).settings
    if not store.views:
        _say(f"{file} declares no feature views")
        return
    for name, view in sorted(store.views.items()):
        spec = view.spec()
        try:
            before = records.get_view(name).spec
        except NotFoundError:
            before = None
        record, created = records.apply_view(
            name, spec, project=settings.project, by=settings.user, at=datetime.now(UTC)
        )
        if not created:
            _say(f"{name}: unchanged (version {record.version})")
            continue
        _say(f"{name}: version {record.version}")
        for change in spec_changes(before, spec):
            _say(f"  {change}")


@app.command("list")
def list_views(ctx: typer.Context, as_json: _JSON = False) -> None:
    """The applied feature views (each at its latest version)."""
    from rich.table import Table

    views = _records(ctx).list_views()
    if as_json:
        print_json(
            [{"name": v.name, "version": v.version, "project": v.project, "spec": v.spec} for v in views]
        )
        return
    if not views:
        _say("no feature views applied yet: shipyard features apply features.py")
        return
    table = Table("view", "version", "entity", "features", "ttl", "source", "applied")
    for view in views:
        spec = view.spec
        source = spec.get("source") or {}
        table.add_row(
            plain(view.name),
            str(view.version),
            plain((spec.get("entity") or {}).get("name", "")),
            str(len(spec.get("features") or {})),
            plain(spec.get("ttl") or "none"),
            plain(source.get("path") or source.get("uri") or source.get("kind", "")),
            fmt_time(view.created_at),
        )
    console().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The feature view.")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="A version (default: latest).")
    ] = None,
    as_json: _JSON = False,
) -> None:
    """One view's spec: entity, source, timestamps, TTL, features."""
    view = _records(ctx).get_view(name, version)
    info = {"name": view.name, "version": view.version, "project": view.project,
            "applied": view.created_at, "by": view.created_by, **view.spec}  # fmt: skip
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        if isinstance(value, dict):
            _say(f"{key}:")
            for inner, item in value.items():
                _say(f"  {inner}: {item}")
        else:
            _say(f"{key}: {fmt_time(value) if isinstance(value, datetime) else value}")


@app.command("materialize")
def materialize(  # noqa: PLR0917 - one argument per CLI parameter
    ctx: typer.Context,
    file: _FILE = Path("features.py"),
    start: Annotated[
        str | None, typer.Option("--start", help="Only rows after this time (ISO 8601).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Only rows up to this time (default: now).")
    ] = None,
    incremental: Annotated[
        bool, typer.Option("--incremental", help="Start where the last run ended.")
    ] = False,
    view: Annotated[list[str] | None, typer.Option("--view", help="Only this view (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Load the newest feature values per entity into the online store."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with (
        _store(ctx, file) as store,
        Progress(
            *columns, console=Console(stderr=True), disable=quiet, transient=True, redirect_stdout=False
        ) as bar,
    ):
        task = bar.add_task("materializing", total=None)

        def show(name: str, done: int, total: int) -> None:
            bar.update(task, description=f"materializing {name}".strip(), completed=done, total=total)

        written = store.materialize(
            start=_when(start, "--start"),
            end=_when(end, "--end"),
            views=view,
            incremental=incremental,
            progress=show,
        )
        for name, count in written.items():
            fresh = store.freshness(name)
            _say(f"{name}: {count} entities written to {store.online.uri} (fresh up to {fresh})")
