"""``shipyard plan | apply | rollback | releases``: deliver a project's ``shipyard.yaml`` to its
environments (the library: :mod:`shipyard.deploy.plan`, :mod:`shipyard.deploy.apply`). The state
lives in the metadata store, so the same commands work on a local database and through a team
server (``SHIPYARD_URI=http(s)://...``, decided there with ``deploy:plan`` / ``deploy:apply``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli.branches import BranchOption, use_branch
from shipyard.cli.main import state
from shipyard.core.branches import PRODUCTION_ENVIRONMENT

if TYPE_CHECKING:
    from shipyard.deploy.facts import Facts, StoreFacts
    from shipyard.deploy.plan import Plan
    from shipyard.deploy.spec.models import Spec
    from shipyard.metadata.delivery import DeliveryStore

_ENV = Annotated[str, typer.Option("-e", "--env", help="The environment, e.g. production.")]
_ENV_ANY = Annotated[
    str | None, typer.Option("-e", "--env", help="The environment (default: every one the spec declares).")
]
_FILE = Annotated[Path, typer.Option("-f", "--file", help="The spec file.")]
_REF = Annotated[
    str | None,
    typer.Option("--ref", help="Read the spec at this git ref (branch, tag, commit) and record it."),
]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_PROJECT = Annotated[
    str | None, typer.Option("-p", "--project", help="The project (default: the one the spec file names).")
]
_LOCK_WAIT = Annotated[
    float,
    typer.Option(
        "--lock-wait", min=0, max=3600, help="Seconds to wait for another apply to this environment."
    ),
]

releases = typer.Typer(help="An environment's releases: what was applied, by whom, and its outcome.")


def _stores(ctx: typer.Context) -> tuple[DeliveryStore, StoreFacts]:
    from shipyard.deploy.facts import StoreFacts
    from shipyard.metadata.delivery import open_delivery_store

    cli = state(ctx)
    metadata = cli.stores.metadata
    delivery = open_delivery_store(metadata)
    return delivery, StoreFacts(metadata, delivery, cli.settings.user)


def _echo(text: str) -> None:
    from shipyard.cli._output import printable

    typer.echo(printable(text, multiline=True))


def _show(plan: Plan, as_json: bool, verbose: bool = False) -> None:
    from shipyard.cli._output import print_json
    from shipyard.deploy.report import plan_text

    if as_json:
        print_json(plan.to_json())
    else:
        _echo(plan_text(plan, passing=verbose))


def plan(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    env: _ENV_ANY = None,
    file: _FILE = Path("shipyard.yaml"),
    ref: _REF = None,
    as_json: _JSON = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List the verdicts that pass too.")
    ] = False,
    branch: BranchOption = None,
) -> None:
    """Compare the spec with each environment's applied state: the changes and the policy verdicts
    (exit 1 when a verdict refuses)."""
    from shipyard.cli._output import print_json
    from shipyard.deploy.plan import make_plan
    from shipyard.deploy.source import read_spec

    source = read_spec(file, ref)
    on = use_branch(ctx, branch, source.spec.project.name)
    delivery, facts = _stores(ctx)
    envs = [env] if env is not None else list(source.spec.environments)
    if on is not None:
        envs = [e for e in envs if e != PRODUCTION_ENVIRONMENT] if env is None else envs
        plans = []
        for e in envs:
            spec, where, judged = _on_branch(source.spec, e, on, facts)
            plans.append(make_plan(spec, where, delivery=delivery, facts=judged, commit=source.commit))
    else:
        plans = [
            make_plan(source.spec, e, delivery=delivery, facts=facts, commit=source.commit) for e in envs
        ]
    if as_json:
        print_json(plans[0].to_json() if env is not None else {"plans": [p.to_json() for p in plans]})
    else:
        for i, one in enumerate(plans):
            if i:
                typer.echo("")
            _show(one, False, verbose)
    if any(p.refusals for p in plans):
        raise typer.Exit(1)


def apply(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    env: _ENV,
    file: _FILE = Path("shipyard.yaml"),
    ref: _REF = None,
    as_json: _JSON = False,
    lock_wait: _LOCK_WAIT = 0.0,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune/--no-prune", help="Delete what the spec no longer declares (--no-prune keeps it)."
        ),
    ] = True,
    branch: BranchOption = None,
) -> None:
    """Apply the spec to one environment: policy-checked, recorded as a release, a no-op when
    nothing changed.

    With --branch B the branch's deployments go next to the environment's own
    (its slot ENV--B, own addresses); production never takes a branch."""
    from shipyard.deploy.apply import apply as apply_spec
    from shipyard.deploy.plan import PlanRefused
    from shipyard.deploy.source import read_spec

    source = read_spec(file, ref)
    on = use_branch(ctx, branch, source.spec.project.name)
    spec, where = source.spec, env
    delivery, store_facts = _stores(ctx)
    facts: Facts = store_facts
    if on is not None:
        spec, where, facts = _on_branch(source.spec, env, on, store_facts)
    try:
        result = apply_spec(
            spec,
            where,
            delivery=delivery,
            facts=facts,
            user=store_facts.user,
            commit=source.commit,
            author=source.author,
            lock_wait_s=lock_wait,
            prune=prune,
        )
    except PlanRefused as refused:
        _show(refused.plan, as_json)
        raise
    _report(result.plan, result.release, result.message, as_json)


def _on_branch(spec: Spec, env: str, branch: str, facts: Facts) -> tuple[Spec, str, Facts]:
    """The spec, slot and facts of ``branch``'s deployment next to ``env``."""
    from shipyard.core.branches import slot_name
    from shipyard.deploy.branches import BranchFacts, branch_spec

    return branch_spec(spec, env, branch), slot_name(env, branch), BranchFacts(facts, branch)


def _report(plan: Plan, release: Any, message: str, as_json: bool) -> None:
    from shipyard.cli._output import print_json, to_jsonable

    if as_json:
        print_json({"plan": plan.to_json(), "release": to_jsonable(release), "message": message})
        return
    if plan.changes:
        _show(plan, False)
        typer.echo("")
    _echo(message)
    if release is not None and release.outcome == "failed":
        raise typer.Exit(1)


def _project(project: str | None, file: Path) -> str:
    if project is not None:
        return project
    from shipyard.deploy.spec.load import load_spec

    return load_spec(file).project.name


def rollback(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    env: _ENV,
    release: Annotated[
        int | None, typer.Argument(help="The release to restore (default: the previous).")
    ] = None,
    project: _PROJECT = None,
    file: _FILE = Path("shipyard.yaml"),
    as_json: _JSON = False,
    lock_wait: _LOCK_WAIT = 0.0,
) -> None:
    """Restore the state an earlier release left, as a new release."""
    from shipyard.deploy.apply import rollback as roll_back
    from shipyard.deploy.plan import PlanRefused

    name = _project(project, file)
    delivery, facts = _stores(ctx)
    try:
        result = roll_back(
            name, env, delivery=delivery, facts=facts, user=facts.user, to=release, lock_wait_s=lock_wait
        )
    except PlanRefused as refused:
        _show(refused.plan, as_json)
        raise
    _report(result.plan, result.release, result.message, as_json)


@releases.command("list")
def list_releases(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    env: _ENV,
    project: _PROJECT = None,
    file: _FILE = Path("shipyard.yaml"),
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    as_json: _JSON = False,
) -> None:
    """Releases of an environment, newest first."""
    from rich.table import Table

    from shipyard.cli._output import console, fmt_time, plain, print_json, to_jsonable

    name = _project(project, file)
    delivery, _ = _stores(ctx)
    rows = delivery.list_releases(name, env, limit=limit, offset=offset)
    if as_json:
        print_json({"releases": to_jsonable(rows)})
        return
    table = Table("release", "kind", "outcome", "commit", "applied by", "at", "changes", "error")
    for r in rows:
        table.add_row(
            plain(r.number),
            plain(r.kind if r.restores is None else f"rollback to {r.restores}"),
            plain(r.outcome),
            plain((r.commit or "")[:12]),
            plain(r.applied_by),
            plain(fmt_time(r.finished_at or r.created_at)),
            plain(r.changes),
            plain((r.error or "")[:80]),
        )
    console().print(table)


@releases.command("show")
def show_release(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    env: _ENV,
    number: Annotated[int, typer.Argument(help="The release number.", min=1)],
    project: _PROJECT = None,
    file: _FILE = Path("shipyard.yaml"),
    as_json: _JSON = False,
) -> None:
    """One release: who, what commit, its outcome, and the changes it made."""
    from shipyard.cli._output import print_json, to_jsonable

    name = _project(project, file)
    delivery, _ = _stores(ctx)
    found = delivery.get_release(name, env, number)
    if as_json:
        print_json(to_jsonable(found))
        return
    lines = [
        f"release {found.number} of {name}/{env}: {found.kind}, {found.outcome}",
        f"  applied by {found.applied_by} at {found.created_at:%Y-%m-%d %H:%M:%S} UTC",
    ]
    if found.commit:
        lines.append(f"  commit {found.commit} by {found.author or 'unknown'}")
    if found.restores is not None:
        lines.append(f"  restores release {found.restores}")
    if found.error:
        lines.append(f"  error: {found.error}")
    signs = {"create": "+", "update": "~", "delete": "-"}
    for change in (found.plan or {}).get("changes", []):
        lines.append(f"  {signs.get(change.get('action'), '?')} {change.get('kind')} {change.get('name')}")
        for f in change.get("fields", []):
            lines.append(f"      {f.get('path')}: {f.get('old')} -> {f.get('new')}")
    _echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
    app.command("apply")(apply)
    app.command("rollback")(rollback)
    app.add_typer(releases, name="releases")
