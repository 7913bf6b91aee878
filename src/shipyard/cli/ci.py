"""``shipyard ci init github|gitlab`` (write the delivery workflow) and ``shipyard ci login`` (a CI
job's OIDC ID token for a short-lived machine token). The library: :mod:`shipyard.deploy.ci`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.main import state

app = typer.Typer(help="CI/CD: write the delivery workflow, sign a CI job in.", no_args_is_help=True)

_TARGETS = {"github": Path(".github/workflows/shipyard.yml"), "gitlab": Path(".gitlab-ci.yml")}
_TRUST = Path(".github/shipyard-ci-trust.yaml")


def _git_repo(root: Path) -> str | None:
    """owner/name of the ``origin`` remote (https or ssh form), or None."""
    import re
    import subprocess

    try:
        url = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"[:/]([^/:]+/[^/]+?)(?:\.git)?$", url)
    return found.group(1) if found else None


def _default_flow(root: Path, spec_flows: list[str]) -> str:
    if spec_flows:
        return spec_flows[0]
    for candidate in ("flow.py", "flows/train.py"):
        if (root / candidate).is_file():
            return candidate
    found = (
        sorted(p.relative_to(root).as_posix() for p in (root / "flows").glob("*.py"))
        if (root / "flows").is_dir()
        else []
    )
    return found[0] if found else "flow.py"


def _default_service(services: list[str]) -> str:
    from shipyard.core.errors import InvalidInputError

    if len(services) == 1:
        return services[0]
    found = f"shipyard.yaml deploys {', '.join(services)} to production" if services else "none found"
    raise InvalidInputError(
        f"which service do experiments and promotion act on ({found})? pass --service NAME"
    )


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
            "(default: shipyard.yaml's only service deployed to production).",
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
    from shipyard.deploy.ci.workflows import (
        CiOptions,
        dump_yaml,
        github_trust_rules,
        github_workflow,
        gitlab_pipeline,
        gitlab_token_commands,
    )
    from shipyard.security.policy import check_project_name

    if provider not in _TARGETS:
        raise InvalidInputError(f"unknown CI {provider!r}; use github or gitlab")
    spec_flows: list[str] = []
    services: list[str] = []
    spec_file = root / "shipyard.yaml"
    if spec_file.is_file():
        from shipyard.deploy.spec.load import load_spec

        spec = load_spec(spec_file)
        project = project or spec.project.name
        spec_flows = [f.file for f in spec.flows.values()]
        services = [
            name
            for name, d in spec.deployments.items()
            if d.kind == "service" and (d.environments is None or "production" in d.environments)
        ]
    if project is None:
        raise InvalidInputError("no shipyard.yaml here to name the project; pass --project NAME")
    check_project_name(project)
    repo = repo or _git_repo(root)
    if repo is None:
        raise InvalidInputError(
            "cannot tell the repository from `git remote get-url origin`; pass --repo OWNER/NAME"
        )
    service = service or _default_service(services)
    options = CiOptions(
        project=project,
        service=service,
        repo=repo,
        flow=flow or _default_flow(root, spec_flows),
        main_branch=main_branch,
        audience=audience,
        service_account=service_account,
    )
    target = root / _TARGETS[provider]
    if target.exists() and not force:
        raise InvalidInputError(f"{target} exists; pass --force to overwrite it")
    header = "Written by `shipyard ci init`: every step is a plain shipyard command."
    target.parent.mkdir(parents=True, exist_ok=True)
    if provider == "github":
        target.write_text(dump_yaml(github_workflow(options), header), encoding="utf-8")
        trust = root / _TRUST
        trust_header = (
            "The shipyard server's trust rules for this workflow: shipyard server --ci-trust FILE\n"
            f"(service account {service_account!r} needs roles in project:{project}, e.g. maintainer)."
        )
        trust.write_text(dump_yaml(github_trust_rules(options), trust_header), encoding="utf-8")
        typer.echo(f"wrote {target} and {trust}")
        typer.echo(f"set the repository variable SHIPYARD_URI; give {trust} to the server (--ci-trust)")
    else:
        target.write_text(dump_yaml(gitlab_pipeline(options), header), encoding="utf-8")
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
