"""``--branch`` for ``run``, ``apply``, ``plan``, ``serve`` and ``agent``, and ``shipyard branches
list | delete`` (the library: :mod:`shipyard.core.branches`, :mod:`shipyard.deploy.branches`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.tracking.stores import Stores

BranchOption = Annotated[
    str | None,
    typer.Option(
        "--branch",
        help="Work on this branch (or 'auto': the git branch; default SHIPYARD_BRANCH): what it writes "
        "lives in project:P/branch:B and never touches production's.",
    ),
]
_PROJECT = Annotated[
    str | None,
    typer.Option("-p", "--project", help="The project (default: SHIPYARD_PROJECT, or the spec's)."),
]
_FILE = Annotated[Path, typer.Option("-f", "--file", help="The spec file naming the project.")]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]

app = typer.Typer(help="A project's branches: parallel lines of work (--branch), listed and deleted.")


def use_branch(ctx: typer.Context, branch: str | None, project: str | None = None) -> str | None:
    """Build this command's settings with ``branch`` (and ``project``) on top of the environment's,
    before any store is opened; the branch in effect (None: production's own line)."""
    from shipyard.core.settings import load_settings

    cli = state(ctx)
    if branch is not None or project is not None:
        if cli._stores is not None:  # pragma: no cover - commands call this first
            raise RuntimeError("use_branch must run before the stores are opened")
        cli._settings = load_settings(branch=branch, project=project)
    settings = cli.settings
    if settings.branch is not None and settings.project is None:  # the project of the spec beside us
        named = spec_project(Path("shipyard.yaml"))
        if named is not None:
            cli._settings = settings.model_copy(update={"project": named})
    return cli.settings.branch


def branch_model_uri(stores: Stores, uri: str) -> str:
    """``uri`` moved to the settings' branch's own model when that exists (else production's)."""
    if not uri.startswith("models:/"):
        return uri
    from shipyard.registry.service import ModelRegistry
    from shipyard.registry.uri import parse_model_uri

    return str(ModelRegistry(stores).branch_first(parse_model_uri(uri)))


def spec_project(file: Path) -> str | None:
    """The project ``file`` names, when it exists (so ``--branch`` works in a project's folder)."""
    if not file.is_file():
        return None
    from shipyard.deploy.spec.load import load_spec

    return load_spec(file).project.name


def _project(ctx: typer.Context, project: str | None, file: Path) -> str:
    from shipyard.core.errors import InvalidInputError

    chosen = project or state(ctx).settings.project or spec_project(file)
    if chosen is None:
        raise InvalidInputError(
            "which project? pass --project NAME, set SHIPYARD_PROJECT, or run beside shipyard.yaml"
        )
    return chosen


@app.command("list")
def list_branches(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    project: _PROJECT = None,
    file: _FILE = Path("shipyard.yaml"),
    include_deleted: Annotated[bool, typer.Option("--deleted", help="Also the deleted branches.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    as_json: _JSON = False,
) -> None:
    """The project's branches (paged: --limit, --offset)."""
    from rich.table import Table

    from shipyard.cli._output import console, fmt_time, plain, print_json, to_jsonable
    from shipyard.metadata.branches import open_branch_store

    name = _project(ctx, project, file)
    store = open_branch_store(state(ctx).stores.metadata)
    rows = store.list_branches(name, include_deleted=include_deleted, limit=limit + 1, offset=offset)
    page, more = rows[:limit], len(rows) > limit
    if as_json:
        print_json({"branches": to_jsonable(page), "next_offset": offset + limit if more else None})
        return
    table = Table("BRANCH", "NAMESPACE", "STARTED BY", "AT", "DELETED")
    for b in page:
        gone = f"{fmt_time(b.deleted_at)} by {b.deleted_by}" if b.deleted_at else ""
        table.add_row(
            plain(b.name), plain(b.namespace), plain(b.created_by), plain(fmt_time(b.created_at)), plain(gone)
        )
    console().print(table)
    if more:
        typer.echo(f"more: --offset {offset + limit}")


@app.command("delete")
def delete_branch(
    ctx: typer.Context,
    branch: Annotated[str, typer.Argument(help="The branch to delete.")],
    project: _PROJECT = None,
    file: _FILE = Path("shipyard.yaml"),
    as_json: _JSON = False,
) -> None:
    """Remove the branch's deployments (a release in each of its slots) and mark its runs, model
    versions and datasets as a deleted branch's; production's objects are never touched."""
    from shipyard.cli._output import print_json, printable, to_jsonable
    from shipyard.core.branches import validate_branch
    from shipyard.deploy.branches import delete_branch as delete
    from shipyard.metadata.delivery import open_delivery_store

    validate_branch(branch)
    name = _project(ctx, project, file)
    cli = state(ctx)
    metadata = cli.stores.metadata
    done = delete(
        name, branch, metadata=metadata, delivery=open_delivery_store(metadata), user=cli.settings.user
    )
    if as_json:
        print_json(to_jsonable(done))
    else:
        typer.echo(printable(done.message))
