"""How help and usage errors read: no type tags, one-line command summaries, one-line usage errors.

Typer (0.2x) prints a type tag beside every parameter (``--from <str>``, ``--json <bool>``,
``<list[str]>``) and has no setting to turn that off; :func:`plain_help` turns it off for every
command at once (choices such as ``<fork|spawn>`` and a metavar a command sets are kept: they say
what to type). :func:`tidy` makes each command's line in its group's listing one line (the
first paragraph of its docstring, its line breaks joined) and names arguments in capitals.
:func:`usage_error` is the ``error: ...`` line of a usage error (an unknown option, a missing
argument), pointing at ``--help``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

_MARK = "_shipyard_plain"


def _untyped(original: Callable[..., Any], *, option: bool) -> Callable[..., Any]:
    def display_type_rich(self: Any, ctx: Any) -> str:
        if option and self.metavar is not None:  # the command chose what to show
            return str(self.metavar)  # (an argument's metavar is its name: shown already)
        descriptor = getattr(self, "type_descriptor", None)
        if descriptor is not None and getattr(descriptor, "is_choice", False):
            return str(original(self, ctx) or "")
        return ""

    setattr(display_type_rich, _MARK, True)
    return display_type_rich


def plain_help() -> None:
    """No ``<type>`` tags in any help (idempotent; a no-op on Typer versions without them)."""
    from typer import core

    method = "display_type_rich"
    for name, option in (("TyperOption", True), ("TyperArgument", False)):
        cls = getattr(core, name, None)
        original = getattr(cls, method, None)
        if cls is None or original is None or getattr(original, _MARK, False):
            continue
        setattr(cls, method, _untyped(original, option=option))


ROOT_HELP = """shipyard: one MLOps platform, from a flow on a laptop to a model in production.

\b
Flows        run, resume, logs, flows, schedule, export, render, card
Tracking     runs, metrics, artifacts, data (datasets), import (MLflow), ui
Models       models, serve, batch, experiment, promote, monitor
Features     features, policy (column masks, row filters)
Delivery     init, templates, validate, plan, apply, rollback, releases
GitOps       sync, branches, ci, image, agent
Server       server, whoami, tokens, users, service-accounts, groups, roles
Access       bindings, projects
Operations   secrets, audit, backup, schema

`shipyard COMMAND --help` for a command's options."""


def tidy(command: Any) -> None:
    """Over the whole command tree: a one-line ``short_help`` per command (what its group's
    listing shows) and arguments named in capitals (``RUN_ID``) in usage lines and errors."""
    stack = [command]
    while stack:
        current = stack.pop()
        for param in current.params:
            if type(param).__name__ == "TyperArgument" and param.metavar is None and param.name:
                param.metavar = param.name.upper()
        if current.help and not current.short_help:
            first = inspect.cleandoc(current.help).partition("\f")[0].split("\n\n")[0]
            current.short_help = " ".join(first.split())
        children = getattr(current, "commands", None)
        if isinstance(children, dict):
            stack.extend(children.values())


def usage_error(exc: Exception) -> str:
    """One line for a usage error: the problem and where the command's help is."""
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    message = " ".join(str(message).split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "shipyard"
    return f"{message} (see `{path} --help`)"
