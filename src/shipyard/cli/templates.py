"""``shipyard init NAME --template training`` (a working project from a Copier template),
``shipyard init --update`` (merge the template's changes into a project) and ``shipyard templates list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Project templates (Copier) for `shipyard init`.", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """The built-in templates (a folder with a copier.yml or gh:org/repo works too)."""
    from shipyard.templates import list_templates

    for info in list_templates():
        typer.echo(f"{info.name:15} {info.description}")


def init(  # noqa: PLR0917 (Typer maps parameters to options)
    name: Annotated[
        str | None, typer.Argument(help="The project (and folder) name, e.g. fraud-model.")
    ] = None,
    template: Annotated[
        str,
        typer.Option(
            "--template",
            "-t",
            help="training, batch, stream, explainability, a folder with a copier.yml, or gh:org/repo.",
        ),
    ] = "training",
    orchestrator: Annotated[
        str, typer.Option("--orchestrator", help="Where flows run in production: local, argo or airflow.")
    ] = "local",
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help="A CSV or Parquet file with a 'target' column (default: a scikit-learn set)."
        ),
    ] = None,
    directory: Annotated[
        Path, typer.Option("--directory", "-C", help="Create the project in this folder.")
    ] = Path("."),
    update: Annotated[
        bool,
        typer.Option(
            "--update", help="In a project: merge its template's changes with your edits (copier update)."
        ),
    ] = False,
    no_git: Annotated[
        bool, typer.Option("--no-git", help="Do not make the project a git repository.")
    ] = False,
) -> None:
    """Start a project from a template: flows, tests, shipyard.yaml, CI, Dockerfile, Makefile, README."""
    from shipyard.cli._output import printable
    from shipyard.core.errors import InvalidInputError
    from shipyard.templates import init_project, update_project

    if update:
        if name is not None:
            raise InvalidInputError("--update takes no NAME: run it inside the project (or pass -C PATH)")
        typer.echo(printable(update_project(directory.resolve())))
        typer.echo("review with `git diff`; resolve any conflict markers, then commit")
        return
    if name is None:
        raise InvalidInputError("give the project a NAME: shipyard init NAME --template training")
    data_path = str(Path(data).expanduser().resolve()) if data else None
    if data_path is not None and not Path(data_path).is_file():
        raise InvalidInputError(f"--data {data}: no such file")
    dest = init_project(name, directory, template, orchestrator=orchestrator, data=data_path, git=not no_git)
    typer.echo(printable(f"created {dest} from template {template}"))
    typer.echo(printable(f"next: cd {dest} && make test && make run   (see README.md)"))


def register(root: typer.Typer) -> None:
    root.command("init")(init)
    root.add_typer(app, name="templates")
