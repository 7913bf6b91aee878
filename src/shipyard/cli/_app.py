"""The Typer app of the ``shipyard`` command: the root group, its options and callback.

Imported by :func:`shipyard.cli.main.build_app` only when a command line needs Typer (the fast
paths of :mod:`shipyard.cli._fast` do not); Typer reads these annotations at build time, so this
module imports Typer at the top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import typer

from shipyard.cli._help import ROOT_HELP
from shipyard.cli._lazy import LazyGroup
from shipyard.cli.main import CliContext


def _show_version(value: bool) -> None:
    if value:
        import shipyard

        typer.echo(f"shipyard {shipyard.__version__}")
        raise typer.Exit(0)


def build_app(lazy: Mapping[str, tuple[str, str]]) -> typer.Typer:
    """The root app; ``lazy`` is the command table (:data:`shipyard.cli.main.LAZY_COMMANDS`).

    The root's options and help are also printed without this app (``cli/_root_help.py``): a
    change here shows in ``tests/cli/test_fast_paths.py``, which compares the two."""

    class _Root(LazyGroup):
        pass

    _Root.lazy = lazy
    app = typer.Typer(
        cls=_Root,
        name="shipyard",
        help=ROOT_HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
        version: Annotated[
            bool,
            typer.Option(
                "--version", is_eager=True, callback=_show_version, help="Print the version and exit."
            ),
        ] = False,
    ) -> None:
        context = CliContext(debug=debug)
        ctx.obj = context
        ctx.call_on_close(context.close)

    return app
