"""``shipyard secrets set | get | list | delete PROJECT ENV [NAME]``: secrets on a shipyard server
(``SHIPYARD_URI=http(s)://...``, ``SHIPYARD_TOKEN``), checked there against ``secret:read`` /
``secret:write`` at ``project:PROJECT/env:ENV``.

A value never comes from the command line (it would stay in the shell's history and in ``ps``): it
is read from ``--from-file`` (as is) or from standard input (one trailing newline dropped; a
terminal is asked without echo). ``get`` prints the metadata; only ``--reveal`` prints the value,
and the server audits that read.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli._output import console, fmt_time, plain, print_json
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.metadata.rest.http import RestSession

app = typer.Typer(
    help="Secrets per project and environment, encrypted at rest on the server.", no_args_is_help=True
)

_PROJECT = Annotated[str, typer.Argument(help="The project, e.g. fraud.")]
_ENV = Annotated[str, typer.Argument(help="The environment, e.g. staging.")]
_NAME = Annotated[str, typer.Argument(help="The secret's name (steps see it upper-cased as a variable).")]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _session(ctx: typer.Context) -> RestSession:
    from shipyard.core.errors import ConfigurationError
    from shipyard.metadata.rest.store import RestMetadataStore

    metadata = state(ctx).stores.metadata
    if not isinstance(metadata, RestMetadataStore):
        raise ConfigurationError(
            "secrets live on a shipyard server; set SHIPYARD_URI=http(s)://host:port and SHIPYARD_TOKEN"
        )
    return metadata.session


def _path(project: str, environment: str, name: str | None = None) -> str:
    from shipyard.metadata.rest.http import seg

    parts = [project, environment] + ([name] if name is not None else [])
    return "/secrets/" + "/".join(seg(p) for p in parts)


def _read_value(from_file: Path | None) -> str:
    from shipyard.core.errors import InvalidInputError

    if from_file is not None:
        try:
            return from_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            raise InvalidInputError(f"cannot read the value from {from_file}: {why}") from None
    if sys.stdin.isatty():
        entered: str = typer.prompt("value", hide_input=True, confirmation_prompt=True)
        return entered
    text = sys.stdin.read()
    return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")


def _shown(info: dict[str, Any]) -> list[str]:
    return [
        f"{info['project']}/{info['environment']}/{info['name']}",
        str(info["version"]),
        _time(info["updated_at"]),
        str(info["updated_by"]),
    ]


def _time(text: str) -> str:
    from datetime import datetime

    return fmt_time(datetime.fromisoformat(text))


def _table(rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table("secret", "version", "updated", "by")
    for row in rows:
        table.add_row(*(plain(v) for v in row))
    console().print(table)


def _say(text: str) -> None:
    console().print(plain(text), highlight=False)


def _terminal_safe(value: str) -> str:
    """Control characters (escape sequences) written visibly, for a value printed to a terminal."""
    return "".join(c if c in "\n\t" or c.isprintable() else f"\\x{ord(c):02x}" for c in value)


@app.command("set")
def set_secret(
    ctx: typer.Context,
    project: _PROJECT,
    environment: _ENV,
    name: _NAME,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Read the value from this file (else stdin).")
    ] = None,
) -> None:
    """Create or replace a secret; the value comes from --from-file or standard input."""
    value = _read_value(from_file)
    info = _session(ctx).call("PUT", _path(project, environment, name), {"value": value})
    _say(f"set {project}/{environment}/{name} (version {info['version']})")


@app.command("get")
def get_secret(  # noqa: PLR0917 - one argument per CLI parameter
    ctx: typer.Context,
    project: _PROJECT,
    environment: _ENV,
    name: _NAME,
    reveal: Annotated[bool, typer.Option("--reveal", help="Print the value itself (audited).")] = False,
    as_json: _JSON = False,
) -> None:
    """Show a secret's metadata; --reveal prints its value only."""
    session = _session(ctx)
    if not reveal:
        info = session.call("GET", _path(project, environment, name), params={"value": "false"})
        if as_json:
            print_json(info)
        else:
            _table([_shown(info)])
        return
    value = str(session.call("GET", _path(project, environment, name))["value"])
    if sys.stdout.isatty():
        sys.stdout.write(_terminal_safe(value) + "\n")
    else:
        sys.stdout.write(value)
    sys.stdout.flush()


@app.command("list")
def list_secrets(ctx: typer.Context, project: _PROJECT, environment: _ENV, as_json: _JSON = False) -> None:
    """The environment's secrets: names, versions, who changed them when (never values)."""
    session = _session(ctx)
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {"limit": 1000, **({"after": after} if after else {})}
        page = session.call("GET", _path(project, environment), params=params)
        found.extend(page["secrets"])
        after = page["next"]
        if not after:
            break
    if as_json:
        print_json(found)
    elif not found:
        _say(f"no secrets in {project}/{environment}")
    else:
        _table([_shown(i) for i in found])


@app.command("delete")
def delete_secret(ctx: typer.Context, project: _PROJECT, environment: _ENV, name: _NAME) -> None:
    """Remove a secret."""
    _session(ctx).call("DELETE", _path(project, environment, name))
    _say(f"deleted {project}/{environment}/{name}")


@app.command("rotate-key")
def rotate_key(
    ctx: typer.Context,
    new_key_file: Annotated[
        Path, typer.Option("--new-key-file", help="A file holding the new key (base64 of 32 bytes).")
    ],
) -> None:
    """Re-encrypt every secret under a new key (run where SHIPYARD_URI is the server's database and
    SHIPYARD_SECRETS_KEY / SHIPYARD_SECRETS_KEY_FILE is the current key), then give the server the
    new key and restart it."""
    from shipyard.core.errors import ConfigurationError
    from shipyard.metadata.sql.store import SqlMetadataStore
    from shipyard.secrets.crypto import load_key, read_key_file
    from shipyard.secrets.local import LocalSecretsBackend

    cli = state(ctx)
    metadata = cli.stores.metadata
    if not isinstance(metadata, SqlMetadataStore):
        raise ConfigurationError(
            "rotating the secrets key works on the server's database itself; run it with SHIPYARD_URI "
            "set to the server's sqlite:/// or postgresql:// URL"
        )
    old, new = load_key(cli.settings), read_key_file(new_key_file)
    count = LocalSecretsBackend(metadata, old).rotate_key(old.material, new.material)
    _say(
        f"re-encrypted {count} secret(s) from key {old.key_id} to key {new.key_id}; now point "
        f"SHIPYARD_SECRETS_KEY_FILE at {new_key_file} (or set SHIPYARD_SECRETS_KEY) and restart the server"
    )
