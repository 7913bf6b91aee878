"""``shipyard schema`` (the JSON Schema of shipyard.yaml, for editors) and ``shipyard validate``
(every error of a spec, each at its file, line and column)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def schema() -> None:
    """Print the JSON Schema of shipyard.yaml (point your editor's YAML plugin at it)."""
    from shipyard.deploy.spec.models import Spec

    typer.echo(json.dumps(Spec.model_json_schema(), indent=2, sort_keys=True))


def validate(
    path: Annotated[Path, typer.Argument(help="The spec file.")] = Path("shipyard.yaml"),
) -> None:
    """Check a shipyard.yaml: unknown keys, bad references, policies it breaks in an environment."""
    from shipyard.cli._output import console, line
    from shipyard.deploy.spec.load import SpecInvalid, load_spec

    try:
        spec = load_spec(path)
    except SpecInvalid as exc:
        err = console(stderr=True)
        for error in exc.errors:
            err.print(line(("error:", "red"), " ", str(error)))
        raise typer.Exit(1) from None
    envs = ", ".join(spec.environments)
    typer.echo(
        f"{path}: valid — project {spec.project.name}, environments {envs}, "
        f"{len(spec.deployments)} deployment(s), {len(spec.flows)} flow(s)"
    )


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)
    app.command("validate")(validate)
