"""``shipyard users | service-accounts | groups | roles | bindings | audit`` and ``shipyard whoami``:
the team security model on a shipyard server (``SHIPYARD_URI=http(s)://...``, ``SHIPYARD_TOKEN``).

Roles are data: built-in viewer / developer / maintainer / admin, plus custom roles made of
permissions from the catalog (``shipyard roles permissions``), bound to a user, a service account
or a group at a scope (``*``, ``project:NAME`` or ``project:NAME/env:ENV``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli._output import console, plain, print_json
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.metadata.rest.http import RestSession

users = typer.Typer(help="People who use the server: create, list, disable.", no_args_is_help=True)
service_accounts = typer.Typer(help="Principals for machines (CI, deployments).", no_args_is_help=True)
groups = typer.Typer(help="Groups of users; bind roles to a group once.", no_args_is_help=True)
roles = typer.Typer(help="Built-in and custom roles, and the permission catalog.", no_args_is_help=True)
bindings = typer.Typer(help="Who has which role where.", no_args_is_help=True)
audit = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
projects = typer.Typer(
    help="Projects: the unit of ownership; private ones hide their runs.", no_args_is_help=True
)

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_ROLE = Annotated[str | None, typer.Option("--role", help="A role bound at the server scope ('*').")]


def _session(ctx: typer.Context) -> RestSession:
    from shipyard.core.errors import ConfigurationError
    from shipyard.metadata.rest.store import RestMetadataStore

    metadata = state(ctx).stores.metadata
    if not isinstance(metadata, RestMetadataStore):
        raise ConfigurationError(
            "users, roles, bindings and the audit log live on a shipyard server; "
            "set SHIPYARD_URI=http(s)://host:port and SHIPYARD_TOKEN"
        )
    return metadata.session


def _seg(text: str) -> str:
    from shipyard.metadata.rest.http import seg

    return seg(text)


def _table(columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*(plain("" if v is None else v) for v in row))
    console().print(table)


def _done(text: str) -> None:
    console().print(plain(text), highlight=False)


# ---- users and service accounts -----------------------------------------------------------------
def _create(ctx: typer.Context, name: str, role: str | None, kind: str, description: str) -> None:
    body = {"name": name, "role": role, "kind": kind, "description": description}
    _session(ctx).call("POST", "/users", body)
    what = "service account" if kind == "service" else "user"
    _done(f"created {what} {name}" + (f" with role {role} at '*'" if role else " (no role yet)"))
    if kind == "service":
        _done(f"mint its token with: shipyard tokens create --user {name} [--scope ...] [--expires-in 90d]")


def _list(ctx: typer.Context, kind: str, as_json: bool) -> None:
    rows = _session(ctx).call("GET", "/users", params={"kind": kind, "limit": 1000})["users"]
    if as_json:
        print_json(rows)
        return
    _table(
        ["name", "created", "disabled", "description"],
        [[r["name"], r["created_at"], r["disabled"], r["description"]] for r in rows],
    )


@users.command("create")
def create_user(
    ctx: typer.Context,
    name: str,
    role: _ROLE = "developer",
    description: Annotated[str, typer.Option("--description")] = "",
) -> None:
    """Create a user, bound to ROLE at the server scope."""
    _create(ctx, name, role, "user", description)


@users.command("list")
def list_users(ctx: typer.Context, as_json: _JSON = False) -> None:
    """List users."""
    _list(ctx, "user", as_json)


@users.command("disable")
def disable_user(ctx: typer.Context, name: str) -> None:
    """Disable a user or service account: its tokens stop working at once."""
    _session(ctx).call("PATCH", f"/users/{_seg(name)}", {"disabled": True})
    _done(f"disabled {name}")


@users.command("enable")
def enable_user(ctx: typer.Context, name: str) -> None:
    """Enable a disabled user or service account again."""
    _session(ctx).call("PATCH", f"/users/{_seg(name)}", {"disabled": False})
    _done(f"enabled {name}")


@users.command("set-password")
def set_password(
    ctx: typer.Context,
    name: str,
    stdin: Annotated[
        bool,
        typer.Option(
            "--stdin", help="Read the new password from standard input's first line (--current: the second)."
        ),
    ] = False,
    current: Annotated[
        bool, typer.Option("--current", help="Also ask for your current password (changing your own).")
    ] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="Remove the password: no UI sign-in with one.")
    ] = False,
) -> None:
    """Set NAME's web UI password (prompted without echo; user:manage for others, or your own with
    --current). Service accounts never have a password. NAME's UI sessions end."""
    import sys

    body: dict[str, str | None] = {"password": None}
    if not remove:
        if stdin:
            body["password"] = sys.stdin.readline().rstrip("\r\n")
        else:
            body["password"] = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    if current and stdin:  # the second line
        body["current_password"] = sys.stdin.readline().rstrip("\r\n")
    elif current:
        body["current_password"] = typer.prompt("Current password", hide_input=True)
    _session(ctx).call("PUT", f"/users/{_seg(name)}/password", body)
    _done(f"removed {name}'s password" if remove else f"set {name}'s password; its UI sessions ended")


@service_accounts.command("create")
def create_service_account(
    ctx: typer.Context,
    name: str,
    role: _ROLE = None,
    description: Annotated[str, typer.Option("--description")] = "",
) -> None:
    """Create a service account (bind its roles where it acts: `shipyard bindings create`)."""
    _create(ctx, name, role, "service", description)


@service_accounts.command("list")
def list_service_accounts(ctx: typer.Context, as_json: _JSON = False) -> None:
    """List service accounts."""
    _list(ctx, "service", as_json)


# ---- groups ----------------------------------------------------------------------------------------
@groups.command("create")
def create_group(ctx: typer.Context, name: str, description: Annotated[str, typer.Option()] = "") -> None:
    """Create a group."""
    _session(ctx).call("POST", "/groups", {"name": name, "description": description})
    _done(f"created group {name}")


@groups.command("add")
def add_member(ctx: typer.Context, group: str, user: str) -> None:
    """Add USER to GROUP."""
    _session(ctx).call("PUT", f"/groups/{_seg(group)}/members/{_seg(user)}")
    _done(f"{user} is in {group}")


@groups.command("remove")
def remove_member(ctx: typer.Context, group: str, user: str) -> None:
    """Remove USER from GROUP."""
    _session(ctx).call("DELETE", f"/groups/{_seg(group)}/members/{_seg(user)}")
    _done(f"{user} is no longer in {group}")


@groups.command("delete")
def delete_group(ctx: typer.Context, name: str) -> None:
    """Delete a group with its memberships and bindings."""
    _session(ctx).call("DELETE", f"/groups/{_seg(name)}")
    _done(f"deleted group {name}")


@groups.command("list")
def list_groups(ctx: typer.Context, as_json: _JSON = False) -> None:
    """List groups and their members."""
    rows = _session(ctx).call("GET", "/groups", params={"limit": 1000})["groups"]
    if as_json:
        print_json(rows)
        return
    _table(
        ["group", "members", "description"],
        [[r["name"], ", ".join(r["members"]), r["description"]] for r in rows],
    )


# ---- roles and bindings ----------------------------------------------------------------------------
@roles.command("list")
def list_roles(ctx: typer.Context, as_json: _JSON = False) -> None:
    """Built-in and custom roles with their permissions."""
    rows = _session(ctx).call("GET", "/roles")["roles"]
    if as_json:
        print_json(rows)
        return
    _table(
        ["role", "kind", "permissions"],
        [[r["name"], "built-in" if r["builtin"] else "custom", " ".join(r["permissions"])] for r in rows],
    )


@roles.command("permissions")
def list_permissions(ctx: typer.Context, as_json: _JSON = False) -> None:
    """The permission catalog custom roles and narrowed tokens are made of."""
    catalog = _session(ctx).call("GET", "/roles")["permissions"]
    if as_json:
        print_json(catalog)
        return
    _table(["permission", "allows"], [[k, v] for k, v in catalog.items()])


@roles.command("create")
def create_role(
    ctx: typer.Context,
    name: str,
    permission: Annotated[list[str], typer.Option("--permission", "-p", help="Repeat for each.")],
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """Create a custom role from catalog permissions."""
    _session(ctx).call(
        "POST", "/roles", {"name": name, "permissions": permission, "description": description}
    )
    _done(f"created role {name}: {' '.join(sorted(permission))}")


@roles.command("delete")
def delete_role(ctx: typer.Context, name: str) -> None:
    """Delete a custom role (refused while it is bound)."""
    _session(ctx).call("DELETE", f"/roles/{_seg(name)}")
    _done(f"deleted role {name}")


@bindings.command("create")
def create_binding(
    ctx: typer.Context,
    principal: str,
    role: str,
    scope: Annotated[str, typer.Option("--scope", help="'*', project:NAME or project:NAME/env:ENV.")] = "*",
    group: Annotated[bool, typer.Option("--group", help="PRINCIPAL is a group.")] = False,
) -> None:
    """Give PRINCIPAL the ROLE at SCOPE."""
    body = {
        "principal": principal,
        "principal_kind": "group" if group else "user",
        "role": role,
        "scope": scope,
    }
    made = _session(ctx).call("POST", "/bindings", body)
    _done(f"bound {role} to {principal} at {scope} (binding {made['id']})")


@bindings.command("list")
def list_bindings(
    ctx: typer.Context,
    principal: Annotated[str | None, typer.Option("--principal")] = None,
    scope: Annotated[str | None, typer.Option("--scope")] = None,
    as_json: _JSON = False,
) -> None:
    """List bindings (of one principal or at one scope)."""
    params = {"principal": principal, "scope": scope, "limit": 1000}
    rows = _session(ctx).call("GET", "/bindings", params={k: v for k, v in params.items() if v is not None})
    found = rows["bindings"]
    if as_json:
        print_json(found)
        return
    _table(
        ["id", "principal", "kind", "role", "scope", "by"],
        [
            [b["id"], b["principal"], b["principal_kind"], b["role"], b["scope"], b["created_by"]]
            for b in found
        ],
    )


@bindings.command("delete")
def delete_binding(ctx: typer.Context, binding_id: str) -> None:
    """Remove a binding."""
    gone = _session(ctx).call("DELETE", f"/bindings/{_seg(binding_id)}")
    _done(f"removed {gone['role']} from {gone['principal']} at {gone['scope']}")


# ---- projects ------------------------------------------------------------------------------------
@projects.command("create")
def create_project(
    ctx: typer.Context,
    name: str,
    private: Annotated[
        bool, typer.Option("--private", help="Hide its runs from everyone not bound to it.")
    ] = False,
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """Create a project; its runs go to namespace project:NAME."""
    _session(ctx).call("POST", "/projects", {"name": name, "private": private, "description": description})
    _done(f"created {'private ' if private else ''}project {name}")


@projects.command("list")
def list_projects(ctx: typer.Context, as_json: _JSON = False) -> None:
    """Projects you can see."""
    rows = _session(ctx).call("GET", "/projects", params={"limit": 1000})["projects"]
    if as_json:
        print_json(rows)
        return
    _table(
        ["project", "private", "by", "description"],
        [[p["name"], p["private"], p["created_by"], p["description"]] for p in rows],
    )


@projects.command("set-private")
def set_private(
    ctx: typer.Context, name: str, private: Annotated[bool, typer.Argument(help="true or false")]
) -> None:
    """Make a project private (true) or visible (false)."""
    _session(ctx).call("PATCH", f"/projects/{_seg(name)}", {"private": private})
    _done(f"project {name} is now {'private' if private else 'visible'}")


# ---- who am I, the audit log --------------------------------------------------------------------
def whoami(ctx: typer.Context, as_json: _JSON = False) -> None:
    """Who the server takes you for, and what you may do where."""
    who = _session(ctx).call("GET", "/whoami")
    if as_json:
        print_json(who)
        return
    narrowed = ""
    if who.get("token_scope") or who.get("token_permissions") is not None:
        narrowed = f" (token narrowed to {who.get('token_scope') or '*'}"
        narrowed += (
            f", {' '.join(who['token_permissions'])})" if who.get("token_permissions") is not None else ")"
        )
    _done(f"{who['user']} ({who['kind']}){narrowed}")
    _table(["scope", "permissions"], [[g["scope"], " ".join(g["permissions"])] for g in who["grants"]])


@audit.command("list")
def list_audit(  # noqa: PLR0917 - one argument per option
    ctx: typer.Context,
    who: Annotated[str | None, typer.Option("--who", help="Only this principal's events.")] = None,
    what: Annotated[str | None, typer.Option("--what", help="Only actions containing this text.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO time or a duration back: 24h, 7d.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    as_json: _JSON = False,
) -> None:
    """Audit events, newest first."""
    params: dict[str, Any] = {"limit": limit, "user": who, "action": what, "since": _since(since)}
    events = _session(ctx).call("GET", "/audit", params={k: v for k, v in params.items() if v is not None})
    rows = events["events"]
    if as_json:
        print_json(rows)
        return
    _table(
        ["id", "at", "who", "what", "target", "status", "source"],
        [[e["id"], e["at"], e["user"], e["action"], e["target"], e["status"], e.get("source")] for e in rows],
    )


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    from datetime import datetime

    from shipyard.core.clock import utcnow
    from shipyard.core.errors import InvalidInputError
    from shipyard.security.tokens import parse_duration

    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return (utcnow() - parse_duration(text)).isoformat()
    except InvalidInputError:
        raise InvalidInputError(f"invalid --since {text!r}; use an ISO time or a duration: 24h, 7d") from None


@audit.command("verify")
def verify_audit(ctx: typer.Context, as_json: _JSON = False) -> None:
    """Check the hash chain; exits 1 and names the first bad event when the log was edited."""
    verdict = _session(ctx).call("GET", "/audit/verify")
    if as_json:
        print_json(verdict)
    elif verdict["ok"]:
        _done(f"ok: {verdict['checked']} chained events; head {verdict['head']} (record it elsewhere)")
    else:
        _done(f"TAMPERED: {verdict['problem']}")
    if not verdict["ok"]:
        raise typer.Exit(1)
