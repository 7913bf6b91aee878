"""The ``shipyard`` command: the Typer app, global options and the one place errors are printed.

Errors: a :class:`~shipyard.core.errors.ShipyardError` (or any other failure) prints one red line
``error: <message>`` on stderr and exits 1; usage errors exit 2; ``--debug`` adds the traceback.
Heavy modules (stores, SQLAlchemy, pandas) are imported inside commands, not here, and so is
Typer: :func:`main` first offers the command line to :mod:`shipyard.cli._fast` (the root's help,
``--version``, a plain ``runs list`` of the local store), which answers those without Typer,
Click, pydantic or SQLAlchemy and hands everything else to the Typer app.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

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


def build_app() -> typer.Typer:
    """The Typer app: the root options and every command (see :mod:`shipyard.cli._app`)."""
    from shipyard.cli._app import build_app as build

    return build(LAZY_COMMANDS)


#: Every built-in command, imported on first use (``shipyard.cli._lazy``): NAME: ("module:attribute",
#: the first paragraph of its help, as the root's --help shows it). The attribute is a Typer (the
#: group NAME), a function (the command NAME) or ``register*`` (a function adding commands to the
#: app). A new command: one line here (tests/cli/test_lazy_commands.py checks the help texts), or
#: ``app.add_typer(...)`` in build_app as before (loaded at every start).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "whoami": ("shipyard.cli.access:whoami", "Who the server takes you for, and what you may do where."),
    "server": (
        "shipyard.cli.server:register",
        "Serve the REST API on HOST:PORT. Authentication is on: the first start creates user 'admin' "
        "and prints its token once (or uses SHIPYARD_ADMIN_TOKEN).",
    ),
    "ui": (
        "shipyard.cli.server:register",
        "Start the web UI for this machine's store on loopback and print its URL (Ctrl-C stops it).",
    ),
    "serve": (
        "shipyard.cli.serve:register",
        "Serve MODEL over HTTP: POST /predict, /feedback, /docs, /health, /ready, /metrics. Requests "
        "need a platform token (shipyard tokens create) unless --no-auth (loopback only). With "
        "--features, /predict also predicts by entity key from the online feature store.",
    ),
    "batch": (
        "shipyard.cli.serve:register",
        "Score INPUT into OUTPUT in chunks; rerun the same command to resume after a crash.",
    ),
    "backup": (
        "shipyard.cli.backup:register",
        "Back up the SQLite metadata database (WAL included) while servers and runs keep writing.",
    ),
    "schema": (
        "shipyard.cli.spec:register",
        "Print the JSON Schema of shipyard.yaml (point your editor's YAML plugin at it).",
    ),
    "validate": (
        "shipyard.cli.spec:register",
        "Check a shipyard.yaml: unknown keys, bad references, policies it breaks in an environment.",
    ),
    "plan": (
        "shipyard.cli.deliver:register",
        "Compare the spec with each environment's applied state: the changes and the policy verdicts "
        "(exit 1 when a verdict refuses).",
    ),
    "apply": (
        "shipyard.cli.deliver:register",
        "Apply the spec to one environment: policy-checked, recorded as a release, a no-op when "
        "nothing changed.",
    ),
    "rollback": (
        "shipyard.cli.deliver:register",
        "Restore the state an earlier release left, as a new release.",
    ),
    "run": (
        "shipyard.cli.flows:register",
        "Run a flow: `shipyard run flow.py -p n=100`. Ends with a summary (-q: only the run id).",
    ),
    "resume": (
        "shipyard.cli.flows:register",
        "Rerun a failed run's failed steps and everything downstream, reusing what succeeded.",
    ),
    "logs": (
        "shipyard.cli.flows:register",
        "Print the captured stdout/stderr of a run's tasks (a failed task: its last attempt's).",
    ),
    "runs": ("shipyard.cli.runs:app", "List and inspect runs."),
    "metrics": (
        "shipyard.cli.metrics:metrics_command",
        "One metric's history (a page of points in the order logged) with a sparkline.",
    ),
    "artifacts": ("shipyard.cli.artifacts:app", "List and fetch artifacts."),
    "models": ("shipyard.cli.models:app", "Registered models: versions, aliases, approval, model cards."),
    "data": ("shipyard.cli.data:app", "Datasets: versioned, content-addressed snapshots."),
    "tokens": ("shipyard.cli.tokens:app", "Create, list and revoke API tokens."),
    "users": ("shipyard.cli.access:users", "People who use the server: create, list, disable."),
    "service-accounts": (
        "shipyard.cli.access:service_accounts",
        "Principals for machines (CI, deployments).",
    ),
    "groups": ("shipyard.cli.access:groups", "Groups of users; bind roles to a group once."),
    "roles": ("shipyard.cli.access:roles", "Built-in and custom roles, and the permission catalog."),
    "bindings": ("shipyard.cli.access:bindings", "Who has which role where."),
    "audit": ("shipyard.cli.access:audit", "The tamper-evident audit log."),
    "projects": (
        "shipyard.cli.access:projects",
        "Projects: the unit of ownership; private ones hide their runs.",
    ),
    "secrets": (
        "shipyard.cli.secrets:app",
        "Secrets per project and environment, encrypted at rest on the server.",
    ),
    "monitor": (
        "shipyard.cli.monitor:register",
        "Monitoring: drift, quality once labels arrive, monitors and alerts.",
    ),
    "features": ("shipyard.cli.features:app", "Feature views: apply, list, show, materialize."),
    "policy": ("shipyard.cli.policy:app", "Data policies: column masks and row filters."),
    "schedule": (
        "shipyard.cli.schedule:app",
        "Run flows on their @flow(schedule=...) and trigger=... (on_dataset, on_model, "
        "on_model_version). State (what fired) lives in the metadata database.",
    ),
    "releases": (
        "shipyard.cli.deliver:register",
        "An environment's releases: what was applied, by whom, and its outcome.",
    ),
    "sync": (
        "shipyard.cli.sync:app",
        "The GitOps loop: apply what a git branch's shipyard.yaml declares, report and repair drift.",
    ),
    "image": ("shipyard.cli.image:app", "Container images for exported runs."),
    "export": (
        "shipyard.cli.export_airflow:register_export",
        "Export a flow as an orchestrator's workflow spec.",
    ),
    "render": ("shipyard.cli.render:app", "Render the spec as files for another system."),
    "card": (
        "shipyard.cli.cards:app",
        "Task cards: the reports steps build (shipyard.card) and the default card.",
    ),
    "agent": (
        "shipyard.cli.agent:app",
        "Run an environment's deployments on this machine: `shipyard agent -e staging` supervises its "
        "services (a stable address each, restarts, zero-downtime rollouts) and runs its batch jobs and "
        "scheduled flows; `shipyard agent status -e staging` shows them.",
    ),
    "ci": ("shipyard.cli.ci:app", "CI/CD: write the delivery workflow, sign a CI job in."),
    "experiment": (
        "shipyard.cli.experiments:app",
        "A/B experiments: a challenger beside production, decided per window.",
    ),
    "promote": (
        "shipyard.cli.experiments:promote",
        "Move a challenger into the environment when every gate passes (experiment, four-eyes "
        "approval, monitors, model card, CI); one release either way, with every gate's value.",
    ),
    "init": (
        "shipyard.cli.templates:register",
        "Start a project from a template: flows, tests, shipyard.yaml, CI, Dockerfile, Makefile, README.",
    ),
    "templates": ("shipyard.cli.templates:register", "Project templates (Copier) for `shipyard init`."),
    "branches": (
        "shipyard.cli.branches:app",
        "A project's branches: parallel lines of work (--branch), listed and deleted.",
    ),
    "import": ("shipyard.cli.imports:app", "Import history from another platform."),
    "flows": ("shipyard.cli.flows:register", "Flows seen in runs."),
}


def _print_error(message: str) -> None:
    """``error: <message>`` on stderr, on one line; the message may echo stored values, so it is
    printed literally with its control characters escaped (see :mod:`shipyard.cli._output`)."""
    from shipyard.cli._output import console, line

    console(stderr=True).print(line(("error:", "red"), " ", message))


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    from shipyard.cli._fast import answer

    try:
        fast = answer(args, LAZY_COMMANDS)
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130
    except Exception as exc:
        return _failed(exc, debug="--debug" in args)
    if fast is not None:
        return fast
    return _full(args)


def _full(args: list[str]) -> int:
    """The command line through the Typer app (every command; the reference for the fast paths)."""
    import typer

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
        return _failed(exc, debug=debug)
    return result if isinstance(result, int) else 0


def _failed(exc: Exception, *, debug: bool) -> int:
    """Print a command's failure (the traceback too with ``--debug``); the exit code, 1."""
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
