"""``shipyard init NAME --template training`` (a working project from a Copier template),
``shipyard init --update`` (merge the template's changes into a project) and ``shipyard templates list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Project templates (Copier) for `shipyard init`.", no_args_is_help=True)
# the workflow built-in templates held before `shipyard init` wrote `shipyard ci init`'s: an update
# that removes it writes the generated one in its place
_OLD_CI = Path(".github/workflows/ci.yml")


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
    ci: Annotated[
        str,
        typer.Option(
            "--ci",
            help="The delivery workflow to write (what `shipyard ci init` writes): github, gitlab or none.",
        ),
    ] = "github",
) -> None:
    """Start a project from a template: flows, tests, shipyard.yaml, CI, Dockerfile, Makefile, README."""
    from shipyard.cli._output import printable
    from shipyard.core.errors import InvalidInputError
    from shipyard.templates import init_project, update_project

    if update:
        if name is not None:
            raise InvalidInputError("--update takes no NAME: run it inside the project (or pass -C PATH)")
        project = directory.resolve()
        had_old_ci = (project / _OLD_CI).is_file()
        typer.echo(printable(update_project(project)))
        if had_old_ci and not (project / _OLD_CI).exists():  # the template dropped its own workflow
            for note in write_ci(project, "github"):
                typer.echo(printable(note))
        typer.echo("review with `git diff`; resolve any conflict markers, then commit")
        return
    if name is None:
        raise InvalidInputError("give the project a NAME: shipyard init NAME --template training")
    if ci not in {"github", "gitlab", "none"}:
        raise InvalidInputError(f"--ci {ci}: use github, gitlab or none")
    data_path = str(Path(data).expanduser().resolve()) if data else None
    if data_path is not None and not Path(data_path).is_file():
        raise InvalidInputError(f"--data {data}: no such file")
    notes: list[str] = []
    dest = init_project(
        name,
        directory,
        template,
        orchestrator=orchestrator,
        data=data_path,
        git=not no_git,
        finish=None if ci == "none" else lambda project: notes.extend(write_ci(project, ci)),
    )
    typer.echo(printable(f"created {dest} from template {template}"))
    for note in notes:
        typer.echo(printable(note))
    typer.echo(printable(f"next: cd {dest} && make test && make run   (see README.md)"))


def write_ci(project: Path, provider: str) -> list[str]:
    """The workflow ``shipyard ci init PROVIDER`` would write in ``project`` (the same generator),
    unless the template brought its own. What was done, as lines to print."""
    from shipyard.core.errors import ShipyardError
    from shipyard.deploy.ci.project import TARGETS, project_options, write_workflow

    target = project / TARGETS[provider]
    if target.exists():
        return [f"kept the template's {TARGETS[provider]}"]
    try:
        options = project_options(project)
    except ShipyardError as exc:  # a team template's spec the generator cannot read alone
        return [f"no CI workflow written ({exc}): run shipyard ci init {provider} in the project"]
    write_workflow(project, provider, options)
    if provider == "github":
        then = "with an origin remote, `shipyard ci init github --force` adds its trust rules"
    else:
        then = "`shipyard ci init gitlab --force` prints how to make its CI variables' tokens"
    return [f"wrote {TARGETS[provider]}; {then}"]


def register(root: typer.Typer) -> None:
    root.command("init")(init)
    root.add_typer(app, name="templates")
