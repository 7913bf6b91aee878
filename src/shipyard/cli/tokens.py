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
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from shipyard.security.tokens import parse_duration

    lifetime: timedelta | None = parse_duration(expires_in) if expires_in else None
    session, local = _backend(ctx)
    if session is not None:
        body: dict[str, Any] = {"name": name, "user": user, "scope": scope, "permissions": permission}
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
        value, stored = issue_token(
            local, user or ADMIN_USER, name, lifetime, scope=checked_scope, permissions=narrowed
        )
        record = _local_record(stored)
    out = console()
    from rich.markup import escape

    label = escape(f"({record['name']}) for {record['user']}")
    out.print(f"created token [bold]{record['id']}[/bold] {label}", markup=True)
    if record.get("expires_at"):
        out.print(f"expires {record['expires_at']}", highlight=False)
    out.print("it is shown only now; store it safely:", highlight=False)
    typer.echo(value)


@app.command("list")
def list_tokens(
    ctx: typer.Context,
    all_users: Annotated[bool, typer.Option("--all", help="Every user's tokens (admins).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List tokens (yours, or everyone's with --all): id, name, prefix, expiry, state."""
    session, local = _backend(ctx)
    if session is not None:
        rows = session.call("GET", "/tokens", params={"all": all_users})["tokens"]
    else:
        assert local is not None
        rows = [_local_record(r) for r in local.list_tokens()]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "user", "name", "prefix", "created", "expires", "state")
    for row in rows:
        state_text = "active" if row["active"] else ("revoked" if row["revoked_at"] else "expired")
        table.add_row(
            row["id"],
            row["user"],
            row["name"],
            row["prefix"] + "…",
            _when(row["created_at"]),
            _when(row["expires_at"]) or "never",
            state_text,
        )
    console().print(table)


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
