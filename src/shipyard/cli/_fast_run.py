"""``shipyard run FILE -q`` answered without Typer, Click or pydantic (issue 20: a run's start-up).

:func:`run_quiet` handles ``run`` with ``-q/--quiet`` (required: the summary of a run without it
goes the full way), ``--name``, ``--tag/-t`` and ``--param/-p`` (each as ``--opt VALUE`` or
``--opt=VALUE``; ``-t``/``-p`` as ``-t VALUE``), in any order around the one FILE, when the
environment's settings are plain (:func:`shipyard.core.plain_settings.read_plain_settings`). It
prints what :func:`shipyard.cli.flows.run_command` prints and returns its exit code. Anything
else returns None before doing anything: another option, an option in another form or given
twice, a value starting with ``-``, a tag the command would refuse (Typer's usage error), or
settings that need pydantic. ``tests/cli/test_fast_run.py`` runs each case both ways.
"""

from __future__ import annotations

import sys
from pathlib import Path

_VALUES = {"--name": "name", "--tag": "tag", "-t": "tag", "--param": "param", "-p": "param"}
_QUIET = ("-q", "--quiet")


def parse_run(args: list[str]) -> tuple[str, str | None, list[str], list[str]] | None:
    """(FILE, name, tags, params) of ``run ARGS`` with -q, or None for anything not handled here."""
    file: str | None = None
    name: str | None = None
    quiet = False
    found: dict[str, list[str]] = {"tag": [], "param": []}
    i = 0
    while i < len(args):
        arg = args[i]
        option, eq, value = arg.partition("=")
        dest: str | None = None
        if arg in _QUIET:
            if quiet:
                return None
            quiet = True
        elif option.startswith("--") and eq and option in _VALUES:
            dest = _VALUES[option]
        elif arg in _VALUES and i + 1 < len(args):
            dest, value = _VALUES[arg], args[i + 1]
            i += 1
        elif arg and not arg.startswith("-") and file is None:
            file = arg
        else:
            return None
        if dest is not None:
            if not value or value.startswith("-"):
                return None
            if dest == "name":
                if name is not None:
                    return None
                name = value
            else:
                found[dest].append(value)
        i += 1
    if file is None or not quiet:
        return None
    return file, name, found["tag"], found["param"]


def _tags(items: list[str]) -> dict[str, str] | None:
    """As ``shipyard.cli.flows._parse_tags``; None where that refuses (a usage error)."""
    from shipyard.core.errors import InvalidInputError
    from shipyard.core.names import validate_key

    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or key.startswith("shipyard."):
            return None
        try:
            tags[validate_key("tag", key)] = value
        except InvalidInputError:
            return None
    return tags


def run_quiet(args: list[str]) -> int | None:
    """The exit code of ``shipyard run ARGS`` answered here, else None (see the module doc)."""
    parsed = parse_run(args)
    if parsed is None:
        return None
    file, name, tag_items, param_items = parsed
    from shipyard.core.plain_settings import read_plain_settings

    plain = read_plain_settings()
    if plain is None:
        return None
    tags = _tags(tag_items)
    if tags is None:
        return None
    from shipyard.flows.params import parse_cli_params

    params = parse_cli_params(param_items)
    from shipyard.runtime.api import RunOptions, run_file

    options = RunOptions(max_workers=None, executor="local", executor_options={})
    options.tags = tags
    if name is not None:
        from shipyard.core.names import validate_name

        options.name = validate_name("run", name, new=True)
    run = run_file(Path(file), params, plain.as_settings(), options, None)
    outcome = run.outcome
    status = outcome.status.value if outcome else run.status.value
    error = outcome.error if outcome else None
    sys.stdout.write(f"{run.id}\n")
    sys.stdout.flush()
    if error:
        from shipyard.cli._output import printable

        sys.stderr.write(f"run {run.id} {status}: {printable(error, multiline=True)}\n")
        sys.stderr.flush()
    if status == "cancelled":
        return 130
    return 0 if status == "succeeded" else 1
