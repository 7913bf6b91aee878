"""``shipyard tokens``: create, list and revoke API tokens on a shipyard server.

With ``SHIPYARD_URI=http(s)://...`` the commands go through the server with ``SHIPYARD_TOKEN``.
With a local database (sqlite/postgresql URI) they act on it directly, as the database owner:
that is how an operator recovers when the admin token is lost.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli._output import console, fmt_time, print_json
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.metadata.rest.http import RestSession
    from shipyard.metadata.security import SecurityStore

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)


def _backend(ctx: typer.Context) -> tuple[RestSession | None, SecurityStore | None]:
    metadata = state(ctx).stores.metadata
    from shipyard.metadata.rest.store import RestMetadataStore

    if isinstance(metadata, RestMetadataStore):
        return metadata.session, None
    from shipyard.metadata.security import open_security_store

    return None, open_security_store(metadata)


def _local_record(record: Any) -> dict[str, Any]:
    from shipyard.core.clock import utcnow

    return dict(record.public(utcnow()))


@app.command("create")
def create(  # noqa: PLR0917 - one argument per option
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="A label to recognize the token by.")] = "token",
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="Lifetime: 45s, 90m, 12h, 30d, 2w (default: never).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Owner (admins; local: default admin).")] = None,
    scope: Annotated[
        str | None, typer.Option("--scope", help="Narrow it to '*', project:NAME or project:NAME/env:ENV.")
    ] = None,
    permission: Annotated[
        list[str] | None, typer.Option("--permission", "-p", help="Narrow it to these permissions (repeat).")
    ] = None,
    service_account: Annotated[
        str | None, typer.Option("--service-account", help="A machine token's owner (same as --user).")
    ] = None,
    project: Annotated[str | None, typer.Option("--project", help="A machine token's project.")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="A machine token's environment.")] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            "--action",
            "-a",
            help="A machine token's action (repeat): run, plan, apply, promote, experiment, sync.",
        ),
    ] = None,
) -> None:
    """Create a token and print it once (only its hash is stored). A machine token for CI:
    `shipyard tokens create --service-account ci --project fraud --env staging --action apply`."""
    from shipyard.core.errors import InvalidInputError
    from shipyard.security.tokens import parse_duration

    if service_account is not None and user is not None and service_account != user:
        raise InvalidInputError("give --service-account or --user, not both")
    user = service_account or user
    machine = project is not None or env is not None or bool(action)
    lifetime: timedelta | None = parse_duration(expires_in) if expires_in else None
    session, local = _backend(ctx)
    if session is not None:
        body: dict[str, Any] = {"name": name, "user": user, "scope": scope, "permissions": permission}
        if machine:
            body |= {"project": project, "environment": env, "actions": action}
        if lifetime is not None:
            body["expires_in_s"] = int(lifetime.total_seconds())
        answer = session.call("POST", "/tokens", body)
        value, record = answer["token"], answer["record"]
    else:
        from shipyard.server.accounts import ADMIN_USER, issue_token

        assert local is not None
        from shipyard.security.policy import check_permissions, check_scope

        narrowed = tuple(sorted(check_permissions(permission))) if permission else None
        checked_scope = check_scope(scope) if scope is not None else None
        actions = None
        if machine:
            checked_scope, narrowed, actions = _local_machine(scope, permission, project, env, action)
        value, stored = issue_token(
            local,
            user or ADMIN_USER,
            name,
            lifetime,
            scope=checked_scope,
            permissions=narrowed,
            actions=actions,
        )
        record = _local_record(stored)
    out = console()
    from rich.markup import escape

    label = escape(f"({record['name']}) for {record['user']}")
    out.print(f"created token [bold]{record['id']}[/bold] {label}", markup=True)
    if record.get("actions"):
        out.print(f"actions {', '.join(record['actions'])} on {record['scope']}", highlight=False)
    if record.get("expires_at"):
        out.print(f"expires {record['expires_at']}", highlight=False)
    out.print("it is shown only now; store it safely:", highlight=False)
    typer.echo(value)


def _local_machine(
    scope: str | None,
    permission: list[str] | None,
    project: str | None,
    env: str | None,
    action: list[str] | None,
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    from shipyard.core.errors import InvalidInputError
    from shipyard.security.policy import action_permissions, check_actions, environment_scope

    if project is None or env is None or not action:
        raise InvalidInputError("a machine token needs --project, --env and --action together")
    if scope is not None or permission:
        raise InvalidInputError("give --project/--env/--action or --scope/--permission, not both")
    actions = check_actions(action)
    return environment_scope(project, env), action_permissions(actions), actions


@app.command("list")
def list_tokens(  # noqa: PLR0917 - one argument per option
    ctx: typer.Context,
    all_users: Annotated[bool, typer.Option("--all", help="Every user's tokens (admins).")] = False,
    user: Annotated[
        str | None, typer.Option("--user", "--service-account", help="This user's tokens (admins: anyone's).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many (paging).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List tokens (yours, a service account's with --user, everyone's with --all): id, name,
    prefix, scope and actions, expiry, state. Paged: --limit, --offset."""
    session, local = _backend(ctx)
    next_offset: int | None = None
    if session is not None:
        params: dict[str, Any] = {"all": all_users, "limit": limit, "offset": offset}
        if user is not None:
            params["user"] = user
        page = session.call("GET", "/tokens", params=params)
        rows, next_offset = page["tokens"], page.get("next_offset")
    else:
        assert local is not None
        found = local.list_tokens(user, limit=limit + 1, offset=offset)
        rows = [_local_record(r) for r in found[:limit]]
        next_offset = offset + limit if len(found) > limit else None
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "user", "name", "prefix", "scope", "created", "expires", "state")
    for row in rows:
        state_text = "active" if row["active"] else ("revoked" if row["revoked_at"] else "expired")
        table.add_row(
            row["id"],
            row["user"],
            row["name"],
            row["prefix"] + "…",
            _narrowing(row),
            _when(row["created_at"]),
            _when(row["expires_at"]) or "never",
            state_text,
        )
    console().print(table)
    if next_offset is not None:
        console().print(f"more: --offset {next_offset}", highlight=False)


def _narrowing(row: dict[str, Any]) -> str:
    if row.get("actions"):
        return f"{row['scope']} ({', '.join(row['actions'])})"
    if row.get("permissions") is not None:
        return f"{row.get('scope') or '*'} ({len(row['permissions'])} permissions)"
    return row.get("scope") or ""


def _when(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        from datetime import datetime

        value = datetime.fromisoformat(value)
    return fmt_time(value)


@app.command("revoke")
def revoke(ctx: typer.Context, token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token: requests with it fail from now on."""
    from shipyard.core.clock import utcnow
    from shipyard.metadata.rest.http import seg

    session, local = _backend(ctx)
    if session is not None:
        session.call("DELETE", f"/tokens/{seg(token_id)}")
    else:
        assert local is not None
        local.revoke_token(token_id, utcnow())
    console().print(f"revoked token {token_id}", highlight=False)
