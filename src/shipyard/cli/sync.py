"""``shipyard sync``: keep environments in sync with a git branch's ``shipyard.yaml`` (the library:
:mod:`shipyard.deploy.sync`), and ``shipyard sync status``: what each environment's loop last
said. The statuses live in the metadata store, so a team server shows them."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.deploy.sync import SyncPass

app = typer.Typer(
    help="The GitOps loop: apply what a git branch's shipyard.yaml declares, report and repair drift.",
    invoke_without_command=True,
)


def _echo(text: str) -> None:
    from shipyard.cli._output import printable

    typer.echo(printable(text, multiline=True))


def _show(done: SyncPass, as_json: bool) -> None:
    from shipyard.cli._output import print_json, to_jsonable

    if as_json:
        print_json(
            {
                "project": done.project,
                "revision": done.head.commit if done.head else None,
                "seconds": round(done.seconds, 3),
                "environments": [
                    {"environment": e.environment, **to_jsonable(e.report), "stored_error": e.stored}
                    for e in done.environments
                ],
            }
        )
        return
    where = done.project or "(unknown project)"
    at = f" at {done.head.commit[:12]}" if done.head else ""
    lines = [f"sync {where}{at} ({done.seconds:.2f} s):"]
    lines += [f"  {e.line()}" for e in done.environments] or ["  no environment to sync"]
    _echo("\n".join(lines))


@app.callback()
def sync(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    repo: Annotated[
        str | None, typer.Option("--repo", help="The git repository: a local path or a URL.")
    ] = None,
    branch: Annotated[str, typer.Option("--branch", "-b", help="The branch to follow.")] = "main",
    path: Annotated[
        str, typer.Option("--path", "-f", help="The spec, relative to the repository's root.")
    ] = "shipyard.yaml",
    env: Annotated[
        list[str] | None,
        typer.Option("-e", "--env", help="An environment to sync (repeat; default: every one declared)."),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option("-p", "--project", help="Where to report when the spec cannot be read at all."),
    ] = None,
    self_heal: Annotated[
        bool, typer.Option("--self-heal", help="Re-apply git's state when an environment drifted.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete what git no longer declares (else: out of sync).")
    ] = False,
    interval: Annotated[str, typer.Option("--interval", help="Time between polls, e.g. 30s or 5m.")] = "30s",
    wake_check: Annotated[
        str,
        typer.Option(
            "--wake-check", help="How often to look for a webhook's wake-up (a small indexed query)."
        ),
    ] = "0.5s",
    once: Annotated[
        bool, typer.Option("--once", help="One pass, then exit (1 when an environment is degraded).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print each pass as JSON.")] = False,
) -> None:
    """Follow a branch: each pass applies what changed in git, reports drift, and stores each
    environment's state (synced / out-of-sync / degraded)."""
    if ctx.invoked_subcommand is not None:
        return
    from shipyard.core.errors import InvalidInputError
    from shipyard.deploy.facts import StoreFacts
    from shipyard.deploy.sync import Syncer, SyncOptions, parse_interval
    from shipyard.metadata.delivery import open_delivery_store

    if repo is None:
        raise InvalidInputError(
            "give the repository to follow: shipyard sync --repo PATH|URL [--branch main]"
        )
    options = SyncOptions(
        repo=repo,
        branch=branch,
        path=path,
        environments=tuple(env or ()),
        project=project,
        self_heal=self_heal,
        prune=prune,
        interval_s=parse_interval(interval),
        wake_check_s=parse_interval(wake_check, what="--wake-check"),
    )
    cli = state(ctx)
    metadata = cli.stores.metadata
    delivery = open_delivery_store(metadata)
    user = cli.settings.user
    syncer = Syncer(options, cli.settings.home, delivery, lambda: StoreFacts(metadata, delivery, user), user)
    if once:
        done = syncer.sync_once()
        _show(done, as_json)
        if done.degraded:
            raise typer.Exit(1)
        return
    stop = threading.Event()
    typer.echo(f"following {syncer.mirror.display} {branch} every {interval} (Ctrl-C stops)", err=True)
    try:
        syncer.run(stop, lambda done: _show(done, as_json))
    except KeyboardInterrupt:
        stop.set()


@app.command("status")
def status(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("-p", "--project", help="Only this project.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each environment's sync status: synced / out-of-sync / degraded, the git revision, the
    release it runs and why."""
    from rich.table import Table

    from shipyard.cli._output import console, fmt_time, plain, print_json, to_jsonable
    from shipyard.metadata.delivery import open_delivery_store

    delivery = open_delivery_store(state(ctx).stores.metadata)
    rows = delivery.list_syncs(project, limit=limit, offset=offset)
    if as_json:
        print_json({"syncs": to_jsonable(rows)})
        return
    if not rows:
        typer.echo("no sync status yet: `shipyard sync --repo PATH --once` makes one")
        return
    table = Table("project", "environment", "status", "git", "runs", "checked", "reason")
    for s in rows:
        runs = f"#{s.release} {(s.running_commit or '')[:12]}".strip() if s.release else ""
        table.add_row(
            plain(s.project),
            plain(s.environment),
            plain(s.status),
            plain(f"{s.branch or ''} {(s.revision or '')[:12]}".strip()),
            plain(runs),
            plain(fmt_time(s.checked_at)),
            plain((s.reason or "")[:120]),
        )
    console().print(table)
