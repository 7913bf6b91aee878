"""Command lines answered without Typer, Click, pydantic or SQLAlchemy (issue 20: start-up).

:func:`answer` takes the arguments before the Typer app is built and answers the common cases
itself, printing exactly what the full path (:func:`shipyard.cli.main._full`) prints:

- ``shipyard --help`` and ``shipyard`` (the root's help: :mod:`shipyard.cli._root_help`);
- ``shipyard --version``;
- ``shipyard runs list`` with ``--limit/-l``, ``--namespace/-n``, ``--all-namespaces/-A``,
  ``--flow`` and ``--status/-s``, on the embedded default store (no ``SHIPYARD_URI``: the SQLite
  file in ``SHIPYARD_HOME``), read by :class:`shipyard.metadata.sqlite_read.SqliteRunReader`;
- ``shipyard run FILE`` with ``-q``, ``--name``, ``--tag`` and ``--param`` (:mod:`shipyard.cli._fast_run`).

Anything else returns ``None`` and goes the full way: another command or option, an option given
twice or in a form not listed here, a value the command would refuse (the full path prints the
error), any ``SHIPYARD_*`` variable other than ``HOME``, ``USER`` and ``NAMESPACE`` (a server, a
project, a branch, a timeout...), a database that is missing or not at this code's schema head,
or one with runs whose heartbeat lapsed (the full path fails them before listing).
``tests/cli/test_fast_paths.py`` runs each case both ways and compares the output.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

#: SHIPYARD_* variables the fast paths read; any other one sends the command the full way
_KNOWN_VARIABLES = frozenset({"home", "user", "namespace"})
#: Settings.heartbeat_timeout_s's default (a test checks; SHIPYARD_HEARTBEAT_TIMEOUT_S: the full path)
HEARTBEAT_TIMEOUT_S = 60.0
_STATUSES = ("running", "succeeded", "failed", "cancelled")
# runs list: option spelling -> destination; value options take the next argument or "=VALUE"
_VALUE_OPTIONS = {
    "--limit": "limit",
    "-l": "limit",
    "--namespace": "namespace",
    "-n": "namespace",
    "--flow": "flow",
    "--status": "status",
    "-s": "status",
}
_FLAGS = {"--all-namespaces": "all", "-A": "all"}


def answer(args: list[str], commands: Mapping[str, tuple[str, str]]) -> int | None:
    """The exit code of ``shipyard ARGS`` when answered here, else None (use the Typer app)."""
    if not args or args == ["--help"]:
        from shipyard.cli._help import ROOT_HELP
        from shipyard.cli._root_help import print_root_help

        print_root_help(ROOT_HELP, commands)
        if args:  # Click's --help echoes the (already printed) help text: an empty line
            sys.stdout.write("\n")
            sys.stdout.flush()
            return 0
        sys.stderr.write("\n")  # no command: the help, then Click's usage error (exit 2)
        sys.stderr.flush()
        return 2
    if args == ["--version"]:
        import shipyard

        sys.stdout.write(f"shipyard {shipyard.__version__}\n")
        sys.stdout.flush()
        return 0
    if args[:2] == ["runs", "list"]:
        return _runs_list(args[2:])
    if args[:1] == ["run"]:
        from shipyard.cli._fast_run import run_flow_file

        return run_flow_file(args[1:])
    return None


def _parse_runs_list(args: list[str]) -> dict[str, str] | None:
    """``runs list`` options as {destination: value}, or None for anything not handled here."""
    found: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg in _FLAGS:
            dest, value = _FLAGS[arg], "1"
        elif name in _VALUE_OPTIONS and name.startswith("--") and eq:
            dest = _VALUE_OPTIONS[name]
        elif arg in _VALUE_OPTIONS and i + 1 < len(args):
            dest, value = _VALUE_OPTIONS[arg], args[i + 1]
            i += 1
        else:
            return None
        if dest in found or not value or value.startswith("-"):
            return None
        found[dest] = value
        i += 1
    if "all" in found and "namespace" in found:
        return None  # the command's usage error
    limit = found.get("limit", "50")
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= 10_000):
        return None
    if "status" in found and found["status"] not in _STATUSES:
        return None
    return found


def _runs_list(args: list[str]) -> int | None:
    options = _parse_runs_list(args)
    if options is None:
        return None
    from shipyard.core.environ import current_user, default_home, shipyard_variables

    variables = shipyard_variables()
    if not set(variables) <= _KNOWN_VARIABLES:
        return None
    home = Path(variables["home"]) if "home" in variables else default_home()
    from shipyard.core.entities import RunStatus
    from shipyard.metadata.sqlite_read import SqliteRunReader

    database = home / "shipyard.db"
    reader = SqliteRunReader.open(database)
    if reader is None:
        return None
    try:
        if reader.has_stale_runs(HEARTBEAT_TIMEOUT_S):
            return None
        user = variables["user"] if "user" in variables else current_user()
        namespace = options.get("namespace") or variables.get("namespace") or f"user:{user}"
        namespaces = None if "all" in options else [namespace]
        page = reader.search_runs(
            namespaces=namespaces,
            max_results=int(options.get("limit", "50")),
            flow_name=options.get("flow"),
            statuses=[RunStatus(options["status"])] if "status" in options else None,
        )
    finally:
        reader.close()
    from shipyard.cli._runs_table import print_runs

    where = "all namespaces" if namespaces is None else namespaces[0]
    print_runs(page.runs, where, (), f"sqlite:///{database}")
    return 0
