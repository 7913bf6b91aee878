"""``shipyard ci init github|gitlab`` (write the delivery workflow) and ``shipyard ci login`` (a CI
job's OIDC ID token for a short-lived machine token). The library: :mod:`shipyard.deploy.ci`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.main import state

app = typer.Typer(help="CI/CD: write the delivery workflow, sign a CI job in.", no_args_is_help=True)


@app.command("init")
def init(  # noqa: PLR0917 - one argument per option
    provider: Annotated[str, typer.Argument(help="github or gitlab.")],
    root: Annotated[Path, typer.Option("--dir", help="The project's root (default: here).")] = Path(),
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="The project (default: shipyard.yaml's).")
    ] = None,
    repo: Annotated[
        str | None, typer.Option("--repo", help="owner/name of the repository (default: git remote origin).")
    ] = None,
    flow: Annotated[str | None, typer.Option("--flow", help="The flow file of the dev run.")] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            help="The production service experiments run against and promotion moves "
            "(default: shipyard.yaml's only service deployed to production; with none, the production "
            "job applies the release).",
        ),
    ] = None,
    main_branch: Annotated[str, typer.Option("--main-branch", help="The branch merges go to.")] = "main",
    audience: Annotated[str, typer.Option("--audience", help="The OIDC audience (GitHub).")] = "shipyard",
    service_account: Annotated[
        str, typer.Option("--service-account", help="The machine account the jobs act as.")
    ] = "ci",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing workflow file.")] = False,
) -> None:
    """Write the workflow: PR -> tests, a dev run, a staging plan (commented), the branch on
    staging, the A/B experiment; merge -> apply staging; manual -> promote to production."""
    from shipyard.core.errors import InvalidInputError
    from shipyard.deploy.ci.project import (
        TRUST,
        check_provider,
        project_options,
        trust_text,
        write_workflow,
    )
    from shipyard.deploy.ci.workflows import gitlab_token_commands

    check_provider(provider)
    options = project_options(
        root,
        project=project,
        repo=repo,
        flow=flow,
        service=service,
        main_branch=main_branch,
        audience=audience,
        service_account=service_account,
    )
    if provider == "github" and options.repo is None:
        raise InvalidInputError(
            "cannot tell the repository from `git remote get-url origin`; pass --repo OWNER/NAME"
        )
    target = write_workflow(root, provider, options, force=force)
    if provider == "github":
        trust = root / TRUST
        trust.write_text(trust_text(options), encoding="utf-8")
        typer.echo(f"wrote {target} and {trust}")
        typer.echo(f"set the repository variable SHIPYARD_URI; give {trust} to the server (--ci-trust)")
    else:
        typer.echo(f"wrote {target}; make the masked CI variables' tokens with:")
        for line in gitlab_token_commands(options):
            typer.echo(f"  {line}")


@app.command("login")
def login(
    ctx: typer.Context,
    rule: Annotated[str | None, typer.Option("--rule", help="The server's trust rule to use.")] = None,
    audience: Annotated[str, typer.Option("--audience", help="The ID token's audience.")] = "shipyard",
    id_token_file: Annotated[
        Path | None, typer.Option("--id-token-file", help="Read the ID token here (default: GitHub's).")
    ] = None,
    github_env: Annotated[
        bool, typer.Option("--github-env", help="Write SHIPYARD_TOKEN to $GITHUB_ENV (masked), not stdout.")
    ] = False,
) -> None:
    """Exchange this CI job's OIDC ID token for a short-lived shipyard machine token."""
    import os

    from shipyard.core.errors import ConfigurationError
    from shipyard.deploy.ci.login import exchange, github_id_token, read_id_token, write_github_env

    settings = state(ctx).settings
    if settings.uri is None:
        raise ConfigurationError("set SHIPYARD_URI to the shipyard server (https://...)")
    id_token = read_id_token(id_token_file) if id_token_file else github_id_token(audience)
    answer = exchange(settings.uri, id_token, rule)
    token, record = answer["token"], answer["record"]
    if github_env:
        target = os.environ.get("GITHUB_ENV")
        if not target:
            raise ConfigurationError("--github-env: GITHUB_ENV is not set (not a GitHub Actions step)")
        typer.echo(f"::add-mask::{token}")
        write_github_env(Path(target), token)
    else:
        typer.echo(token)
    actions = ", ".join(record.get("actions") or [])
    typer.echo(
        f"signed in as {record['user']}: {actions} on {record['scope']} for {answer['expires_in']} s",
        err=True,
    )
