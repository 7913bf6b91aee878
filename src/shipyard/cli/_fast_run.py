"""``shipyard run FILE`` answered without Typer, Click or pydantic (issue 20: a run's start-up).

:func:`run_flow_file` handles ``run`` with ``-q/--quiet``, ``--name``, ``--tag/-t`` and
``--param/-p`` (each as ``--opt VALUE`` or ``--opt=VALUE``; ``-t``/``-p`` as ``-t VALUE``), in any
order around the one FILE, when the environment's settings are plain
(:func:`shipyard.core.plain_settings.read_plain_settings`). It runs the flow as
:func:`shipyard.cli.flows.run_command` does (live progress on a terminal) and ends it with the same
:func:`shipyard.cli._run_summary.finish_run`, read from the runner's own stores; it returns the
command's exit code. Anything else returns None before doing anything: another option (``--json``,
``--executor``...), an option in another form or given twice, a value starting with ``-``, a tag
the command would refuse (Typer's usage error), or settings that need pydantic.
``tests/cli/test_fast_run.py`` runs each case both ways.
"""

from __future__ import annotations

import sys
from pathlib import Path

_VALUES = {"--name": "name", "--tag": "tag", "-t": "tag", "--param": "param", "-p": "param"}
_QUIET = ("-q", "--quiet")


def parse_run(args: list[str]) -> tuple[str, str | None, list[str], list[str], bool] | None:
    """(FILE, name, tags, params, quiet) of ``run ARGS``, or None for anything not handled here."""
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
    if file is None:
        return None
    return file, name, found["tag"], found["param"], quiet


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


def run_flow_file(args: list[str]) -> int | None:
    """The exit code of ``shipyard run ARGS`` answered here, else None (see the module doc)."""
    parsed = parse_run(args)
    if parsed is None:
        return None
    file, name, tag_items, param_items, quiet = parsed
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
    path = Path(file)
    view = None
    if not quiet and sys.stderr.isatty():  # as the Typer command: live progress on a terminal
        from rich.console import Console

        from shipyard.runtime.render import ProgressView

        view = ProgressView(Console(stderr=True), f"{path.name}")
        options.progress = view
    options.tags = tags
    if name is not None:
        from shipyard.core.names import validate_name

        options.name = validate_name("run", name, new=True)
    settings = plain.as_settings()
    if view is None:
        run = run_file(path, params, settings, options, None)
    else:
        with view:
            run = run_file(path, params, settings, options, None)
    from shipyard.cli._run_summary import finish_run

    stores = run.stores
    return finish_run(run, stores.metadata, stores.artifacts, settings.metadata_uri, False, quiet)
