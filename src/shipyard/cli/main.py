"""The ``shipyard`` command: the Typer app, global options and the one place errors are printed.

Errors: a :class:`~shipyard.core.errors.ShipyardError` (or any other failure) prints one red line
``error: <message>`` on stderr and exits 1; usage errors exit 2; ``--debug`` adds the traceback.
Heavy modules (stores, SQLAlchemy, pandas) are imported inside commands, not here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from shipyard.core.settings import Settings
    from shipyard.tracking.client import TrackingClient
    from shipyard.tracking.stores import Stores


@dataclass
class CliContext:
    """Per-invocation state: settings and stores built once, on first use, and closed at the end."""

    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)
    _stores: Stores | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from shipyard.core.settings import load_settings

            self._settings = load_settings()
        return self._settings

    @property
    def stores(self) -> Stores:
        if self._stores is None:
            from shipyard.tracking.stores import open_stores

            self._stores = open_stores(self.settings)
        return self._stores

    def client(self) -> TrackingClient:
        from shipyard.tracking.client import TrackingClient

        return TrackingClient(self.stores)

    def close(self) -> None:
        if self._stores is not None:
            self._stores.close()
            self._stores = None


def state(ctx: typer.Context) -> CliContext:
    """The :class:`CliContext` of this invocation (created by the root callback)."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        obj = CliContext()
        ctx.find_root().obj = obj
    return obj


def _show_version(value: bool) -> None:
    if value:
        import shipyard

        typer.echo(f"shipyard {shipyard.__version__}")
        raise typer.Exit(0)


def build_app() -> typer.Typer:
    from shipyard.cli._help import ROOT_HELP

    app = typer.Typer(
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

    from shipyard.cli import artifacts, data, models, runs

    app.add_typer(runs.app, name="runs")
    from shipyard.cli import metrics

    app.command("metrics")(metrics.metrics_command)
    app.add_typer(artifacts.app, name="artifacts")
    app.add_typer(models.app, name="models")
    app.add_typer(data.app, name="data")
    from shipyard.cli import server, tokens

    app.add_typer(tokens.app, name="tokens")
    from shipyard.cli import ci

    app.add_typer(ci.app, name="ci")
    from shipyard.cli import access, secrets

    for name, sub_app in (
        ("users", access.users),
        ("service-accounts", access.service_accounts),
        ("groups", access.groups),
        ("roles", access.roles),
        ("bindings", access.bindings),
        ("audit", access.audit),
        ("projects", access.projects),
        ("secrets", secrets.app),
    ):
        app.add_typer(sub_app, name=name)
    app.command("whoami")(access.whoami)
    server.register(app)
    from shipyard.cli import serve

    serve.register(app)
    from shipyard.cli import monitor

    monitor.register(app)
    from shipyard.cli import features

    app.add_typer(features.app, name="features")
    from shipyard.cli import policy

    app.add_typer(policy.app, name="policy")
    from shipyard.cli import schedule

    app.add_typer(schedule.app, name="schedule")
    from shipyard.cli import backup

    backup.register(app)
    from shipyard.cli import spec

    spec.register(app)
    from shipyard.cli import deliver

    deliver.register(app)
    from shipyard.cli import sync

    app.add_typer(sync.app, name="sync")
    from shipyard.cli import experiments

    app.add_typer(experiments.app, name="experiment")
    app.command("promote")(experiments.promote)
    from shipyard.cli import image

    app.add_typer(image.app, name="image")
    from shipyard.cli import export, export_airflow

    export_airflow.register(export.app)
    app.add_typer(export.app, name="export")
    from shipyard.cli import render

    app.add_typer(render.app, name="render")
    from shipyard.cli import cards

    app.add_typer(cards.app, name="card")
    from shipyard.cli import agent

    app.add_typer(agent.app, name="agent")
    from shipyard.cli import templates

    templates.register(app)
    _register_flow_commands(app)
    return app


def _register_flow_commands(app: typer.Typer) -> None:
    """``run``, ``resume``, ``logs``, ``flows`` come from :mod:`shipyard.cli.flows` when it exists."""
    import importlib

    try:
        flows = importlib.import_module("shipyard.cli.flows")
    except ModuleNotFoundError as exc:
        if exc.name != "shipyard.cli.flows":
            raise  # a missing dependency inside the module is a real error
        return
    flows.register(app)


def _print_error(message: str) -> None:
    """``error: <message>`` on stderr, on one line; the message may echo stored values, so it is
    printed literally with its control characters escaped (see :mod:`shipyard.cli._output`)."""
    from shipyard.cli._output import console, line

    console(stderr=True).print(line(("error:", "red"), " ", message))


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        from shipyard.cli import _help

        _help.plain_help()
        command = typer.main.get_command(build_app())
        _help.tidy(command)
        result = command.main(args=args, prog_name="shipyard", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors (exit 2) and other parsing errors
        show = getattr(exc, "show", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and callable(show):
            show()  # a group called without a command prints its help
        else:
            _print_error(_help.usage_error(exc))
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        _print_error("interrupted")
        return 130
    except Exception as exc:
        from shipyard.core.errors import ShipyardError

        if debug:
            import traceback

            traceback.print_exc()
        if isinstance(exc, ShipyardError):
            _print_error(" ".join(str(exc).split("\n")))
        else:
            hint = "" if debug else " (run with --debug for the traceback)"
            _print_error(f"unexpected {type(exc).__name__}: {exc}{hint}")
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
