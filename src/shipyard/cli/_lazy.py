"""Top-level commands imported when used, not at start-up.

Converting every command of every module into Click objects costs more than the rest of
``shipyard --help`` or ``shipyard runs list``. The root group therefore knows the other commands
by name and help text only (:data:`shipyard.cli.main.LAZY_COMMANDS`); the one a command line names
is imported and converted when Click asks for it. The root ``--help`` lists them from the table
without importing anything (``tests/cli/test_lazy_commands.py`` checks it prints what the loaded
commands would).

A table entry is ``NAME: ("module:attribute", help)``, the attribute being a ``typer.Typer``
(added as the group NAME), a function (the command NAME) or ``register``-like: a function taking the
app, which may add several commands (all of them are kept once it ran). Commands added the usual
way (``app.add_typer``/``app.command`` in ``build_app``) work as before, loaded eagerly.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

#: name -> ("module:attribute", the first paragraph of the command's help)
LazyTable = Mapping[str, tuple[str, str]]


def load_commands(name: str, target: str) -> dict[str, Any]:
    """The Click commands that ``target`` (``module:attribute``) defines, by name."""
    module_name, _, attr = target.partition(":")
    obj = getattr(importlib.import_module(module_name), attr)
    holder = typer.Typer(add_completion=False)

    @holder.callback()
    def _holder() -> None:  # a callback keeps a one-command app a group
        """Holds the loaded commands."""

    if isinstance(obj, typer.Typer):
        holder.add_typer(obj, name=name)
    elif attr.startswith("register"):
        obj(holder)
    else:
        holder.command(name)(obj)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return dict(group.commands)


class LazyGroup(TyperGroup):
    """A root group whose :attr:`lazy` commands are imported on first use."""

    lazy: LazyTable = {}
    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(self.commands)
        return names + [name for name in self.lazy if name not in self.commands]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = self.commands.get(cmd_name)
        if found is not None or cmd_name not in self.lazy:
            return found
        target, help_text = self.lazy[cmd_name]
        if self._listing:  # the root's help: name and help, nothing imported
            return TyperCommand(name=cmd_name, help=help_text)
        from shipyard.cli._help import tidy

        for name, command in load_commands(cmd_name, target).items():
            tidy(command)  # as main() does for the commands loaded at start
            self.commands.setdefault(name, command)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
