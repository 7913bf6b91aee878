"""``shipyard experiment start | status | stop | check`` and ``shipyard promote``: A/B experiments
against production and gated promotion (the library: :mod:`shipyard.deploy.experiments`,
:mod:`shipyard.deploy.promote`, :mod:`shipyard.experiments`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli.main import state

if TYPE_CHECKING:
    from collections.abc import Callable

    from shipyard.experiments.runner import ExperimentResult

app = typer.Typer(help="A/B experiments: a challenger beside production, decided per window.")

_ENV = Annotated[str, typer.Option("-e", "--env", help="The environment (default: production).")]
_PROJECT = Annotated[
    str | None,
    typer.Option("-p", "--project", help="The project (default: SHIPYARD_PROJECT, else shipyard.yaml's)."),
]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_LOG_DIR = Annotated[
    str | None, typer.Option("--log-dir", help="The prediction log (default: $SHIPYARD_HOME/predictions).")
]


def _project(ctx: typer.Context, project: str | None) -> str:
    if project:
        return project
    if state(ctx).settings.project:
        return str(state(ctx).settings.project)
    if Path("shipyard.yaml").is_file():
        from shipyard.deploy.spec.load import load_spec

        return load_spec(Path("shipyard.yaml")).project.name
    from shipyard.core.errors import InvalidInputError

    raise InvalidInputError("which project? pass -p NAME, set SHIPYARD_PROJECT, or run next to shipyard.yaml")


def _log_dir(ctx: typer.Context, log_dir: str | None) -> str:
    from shipyard.monitoring.logs import default_log_dir

    return log_dir or default_log_dir(state(ctx).settings.home)


def _delivery(ctx: typer.Context) -> Any:
    from shipyard.metadata.delivery import open_delivery_store

    return open_delivery_store(state(ctx).stores.metadata)


@app.command("start")
def start(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The experiment's name.")],
    deployment: Annotated[str, typer.Option("--deployment", help="The production service.")],
    challenger: Annotated[
        str | None, typer.Option("--challenger", help="models:/NAME/VERSION, or a deployment.")
    ] = None,
    from_branch: Annotated[
        str | None,
        typer.Option(
            "--from-branch",
            help="Instead of --challenger: the model version branch B's deployment of --deployment "
            "serves (shipyard apply -e ENV --branch B).",
        ),
    ] = None,
    branch_env: Annotated[
        str, typer.Option("--branch-env", help="Where --from-branch's deployment runs.")
    ] = "staging",
    env: _ENV = "production",
    project: _PROJECT = None,
    share: Annotated[float, typer.Option("--share", help="Percent of traffic to the challenger.")] = 10,
    unit: Annotated[
        str, typer.Option("--unit", help="'request', or a request key such as customer_id.")
    ] = "request",
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            help="A deciding metric (the first decides): accuracy, log_loss, latency_ms, "
            "error_rate, outcome:NAME.",
        ),
    ] = None,
    margin: Annotated[
        float | None, typer.Option("--margin", help="'not worse' within this many units of the first metric.")
    ] = None,
    min_samples: Annotated[int, typer.Option("--min-samples", help="Rows per arm before a decision.")] = 1000,
    window: Annotated[str, typer.Option("--window", help="One look per window: 30m, 1h, 1d.")] = "1h",
    max_error_rate: Annotated[
        float | None,
        typer.Option("--max-error-rate", help="Guardrail: error rate worse by more than this stops it."),
    ] = None,
    max_p99_ms: Annotated[
        float | None,
        typer.Option("--max-p99-ms", help="Guardrail: p99 latency worse by more than this (ms) stops it."),
    ] = None,
) -> None:
    """Start an experiment (a release in the environment's delivery state)."""
    from shipyard.deploy import experiments as ex
    from shipyard.experiments.config import ExperimentSpec

    proj = _project(ctx, project)
    challenger = _challenger(ctx, proj, deployment, challenger, from_branch, branch_env)
    metrics: list[dict[str, Any]] = [{"name": m} for m in (metric or ["accuracy"])]
    if margin is not None:
        metrics[0]["margin"] = margin
    guardrails: dict[str, Any] = {}
    if max_error_rate is not None:
        guardrails["error_rate"] = max_error_rate
    if max_p99_ms is not None:
        guardrails["p99_latency_ms"] = max_p99_ms
    spec = _validated(
        ExperimentSpec,
        {
            "deployment": deployment,
            "environment": env,
            "challenger": challenger,
            "share": share,
            "unit": unit,
            "metrics": metrics,
            "min_samples": min_samples,
            "window": window,
            "guardrails": guardrails,
        },
    )
    release = ex.start(_delivery(ctx), proj, name, spec, user=state(ctx).settings.user)
    typer.echo(
        f"experiment {name} started in {env}: {spec.share:g}% to {spec.challenger} (release {release.number})"
    )
    if spec.challenger_version is not None:
        typer.echo(
            f"serve it: shipyard serve {spec.challenger_model}@champion --deployment {deployment} "
            f"--route champion={100 - spec.share:g} --route {spec.challenger_version}={spec.share:g} "
            f"--experiment {name}" + (f" --assign-key {spec.unit}" if spec.sticky_key else "")
        )


def _challenger(  # noqa: PLR0917
    ctx: typer.Context,
    project: str,
    deployment: str,
    challenger: str | None,
    branch: str | None,
    branch_env: str,
) -> str:
    """``--challenger`` as given, or the version ``branch``'s deployment serves in ``branch_env``."""
    from shipyard.core.branches import slot_name, validate_branch
    from shipyard.core.errors import InvalidInputError, NotFoundError

    if (challenger is None) == (branch is None):
        raise InvalidInputError(
            "give the challenger: --challenger models:/NAME/VERSION or --from-branch BRANCH"
        )
    if challenger is not None:
        return challenger
    slot = slot_name(branch_env, validate_branch(branch))
    objects = _delivery(ctx).list_objects(project, slot)
    found = next((o for o in objects if o.kind == "service" and o.name == deployment), None)
    if found is None or not str(found.model_version or "").startswith("models:/"):
        raise NotFoundError(
            f"branch {branch!r} has no deployment {deployment!r} with a model version in "
            f"{project}/{branch_env} (slot {slot}); deploy it first: "
            f"shipyard apply -e {branch_env} --branch {branch}"
        )
    return str(found.model_version)


def _validated(model: Any, data: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from shipyard.core.errors import InvalidInputError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


@app.command("stop")
def stop(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The experiment.")],
    env: _ENV = "production",
    project: _PROJECT = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded on the release).")
    ] = "stopped by hand",
) -> None:
    """Stop an experiment: the challenger's traffic goes to 0."""
    from shipyard.deploy import experiments as ex

    release = ex.stop(
        _delivery(ctx), _project(ctx, project), env, name, user=state(ctx).settings.user, reason=reason
    )
    typer.echo(f"experiment {name} stopped (release {release.number}): the challenger gets no more traffic")


@app.command("check")
def check(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The experiment.")],
    env: _ENV = "production",
    project: _PROJECT = None,
    log_dir: _LOG_DIR = None,
    as_json: _JSON = False,
) -> None:
    """One guardrail pass: analyse, and on a breach stop the challenger, alert and audit (exit 1)."""
    from shipyard.deploy import experiments as ex

    cli = state(ctx)
    proj = _project(ctx, project)
    remote = _server_analysis(_delivery(ctx), proj, env, log_dir, "checked")
    out = ex.check(
        cli.stores,
        proj,
        env,
        name,
        user=cli.settings.user,
        log_dir=None if remote is not None else _log_dir(ctx, log_dir),
        analysis=None if remote is None else lambda: remote(name),
    )
    _print(out.result, as_json)
    if out.stopped is not None:
        typer.echo(
            f"guardrail breached: experiment {name} stopped (release {out.stopped.number}), alert {out.alert}"
        )
        raise typer.Exit(1)


@app.command("status")
def status(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="The experiment (default: every one in the environment).")
    ] = None,
    env: _ENV = "production",
    project: _PROJECT = None,
    log_dir: _LOG_DIR = None,
    as_json: _JSON = False,
) -> None:
    """Per metric and window: both arms, the effect with its always-valid interval, the decision."""
    from shipyard.deploy import experiments as ex

    cli = state(ctx)
    proj = _project(ctx, project)
    delivery = _delivery(ctx)
    remote = _server_analysis(delivery, proj, env, log_dir, "analysed")
    names = [name] if name else sorted(ex.list_experiments(delivery, proj, env))
    if not names:
        typer.echo(f"no experiments in {proj}/{env}")
        return
    results = [
        remote(n)
        if remote is not None
        else ex.analyse(cli.stores, n, ex.get_experiment(delivery, proj, env, n), _log_dir(ctx, log_dir))
        for n in names
    ]
    if as_json:
        from shipyard.cli._output import print_json

        print_json({"experiments": [r.to_dict() for r in results]})
        return
    for result in results:
        _print(result, False)


def _server_analysis(
    delivery: Any, project: str, env: str, log_dir: str | None, done: str
) -> Callable[[str], ExperimentResult] | None:
    """Against a team server an experiment is analysed there, over the server's prediction log
    (None: analyse it here). ``--log-dir`` names a local folder, so it has no meaning then."""
    from shipyard.metadata.rest.delivery import RestDeliveryStore

    if not isinstance(delivery, RestDeliveryStore):
        return None
    if log_dir is not None:
        from shipyard.core.errors import InvalidInputError

        raise InvalidInputError(
            f"--log-dir is for a local database; against a team server experiments are {done} over "
            "the server's own prediction log (drop --log-dir)"
        )

    def analysis(name: str) -> ExperimentResult:
        from shipyard.experiments.config import ExperimentSpec
        from shipyard.experiments.runner import result_of

        data = delivery.experiment_analysis(project, env, name)
        return result_of(ExperimentSpec.model_validate(data["spec"]), data["analysis"])

    return analysis


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _print(result: ExperimentResult, as_json: bool) -> None:
    from rich.table import Table

    from shipyard.cli._output import console, plain, print_json

    if as_json:
        print_json(result.to_dict())
        return
    spec = result.spec
    out = console()
    out.print(
        plain(
            f"experiment {result.name} [{spec.status}] {spec.deployment} vs {spec.challenger} "
            f"({spec.effective_share:g}% by {spec.unit}) - decision: {result.decision}"
        )
    )
    srm = "MISMATCH" if result.srm_p < 0.001 else "ok"
    out.print(
        plain(
            f"requests: control {result.requests[0]}, challenger {result.requests[1]}; "
            f"sample ratio {srm} (p={result.srm_p:.3g})"
        )
    )
    if spec.reason:
        out.print(plain(f"reason: {spec.reason}"))
    for breach in result.breaches:
        out.print(plain(f"guardrail breached: {breach.message()}"))
    for metric in result.metrics:
        table = Table(
            title=f"{metric.name} ({'higher' if metric.higher_is_better else 'lower'} is better): "
            f"{metric.decision}"
        )
        for column in (
            "window",
            "n control",
            "n challenger",
            "control",
            "challenger",
            "diff [95% CI]",
            "cumulative diff [always-valid]",
            "p",
            "decision",
        ):
            table.add_column(column)
        for w in metric.windows[-24:]:
            table.add_row(
                plain(f"{w.start:%m-%d %H:%M}"),
                plain(w.n[0]),
                plain(w.n[1]),
                plain(_fmt(w.mean[0])),
                plain(_fmt(w.mean[1])),
                plain(f"{_fmt(w.diff)} [{_fmt(w.ci[0])}, {_fmt(w.ci[1])}]"),
                plain(f"{_fmt(w.cum_diff)} [{_fmt(w.cs[0])}, {_fmt(w.cs[1])}]"),
                plain(f"{w.p:.3g}"),
                plain(w.decision),
            )
        out.print(table)


def promote(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The environment's service to promote into.")],
    challenger: Annotated[
        str,
        typer.Option("--from", help="The challenger: models:/NAME/VERSION, a deployment or the experiment."),
    ],
    env: Annotated[str, typer.Option("--to", help="The environment.")] = "production",
    project: _PROJECT = None,
    log_dir: _LOG_DIR = None,
    as_json: _JSON = False,
) -> None:
    """Move a challenger into the environment when every gate passes (experiment, four-eyes
    approval, monitors, model card, CI); one release either way, with every gate's value."""
    from shipyard.deploy.facts import StoreFacts
    from shipyard.deploy.promote import PromotionRefused
    from shipyard.deploy.promote import promote as run_promote

    cli = state(ctx)
    delivery = _delivery(ctx)
    facts = StoreFacts(cli.stores.metadata, delivery, cli.settings.user)
    proj = _project(ctx, project)
    evaluate = _server_gates(delivery, proj, env, name, challenger, log_dir)
    try:
        done = run_promote(
            cli.stores,
            facts,
            proj,
            name,
            challenger=challenger,
            env=env,
            user=cli.settings.user,
            log_dir=None if evaluate is not None else _log_dir(ctx, log_dir),
            evaluate=evaluate,
        )
    except PromotionRefused as exc:
        if as_json:
            from shipyard.cli._output import print_json

            print_json(
                {"promoted": False, "release": exc.release.number, "gates": [g.to_dict() for g in exc.gates]}
            )
        else:
            _gates(exc.gates)
        raise
    if as_json:
        from shipyard.cli._output import print_json

        print_json(
            {
                "promoted": True,
                "release": done.release.number,
                "version": done.version,
                "gates": [g.to_dict() for g in done.gates],
            }
        )
        return
    _gates(done.gates)
    typer.echo(f"promoted {done.version} into {name} in {env} (release {done.release.number})")


def _server_gates(  # noqa: PLR0917
    delivery: Any, project: str, env: str, name: str, challenger: str, log_dir: str | None
) -> Any:
    """Against a team server the gates are judged there, over the server's prediction log (None:
    judge them here). ``--log-dir`` names a local folder, so it has no meaning then."""
    from shipyard.metadata.rest.delivery import RestDeliveryStore

    if not isinstance(delivery, RestDeliveryStore):
        return None
    if log_dir is not None:
        from shipyard.core.errors import InvalidInputError

        raise InvalidInputError(
            "--log-dir is for a local database; against a team server the gates are judged over the "
            "server's own prediction log (drop --log-dir)"
        )
    from shipyard.deploy.promote import gate_of

    def evaluate() -> list[Any]:
        data = delivery.evaluate_promotion(project, env, name, challenger)
        return [gate_of(g) for g in data["gates"]]

    return evaluate


def _gates(gates: list[Any]) -> None:
    from shipyard.cli._output import console, plain

    for gate in gates:
        console().print(plain(f"{'pass' if gate.ok else 'FAIL'}  {gate.name}: {gate.message}"))
