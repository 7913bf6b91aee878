"""``shipyard monitor``: drift, quality, reference profiles, labels, monitors, alerts, reports."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._output import console, plain, print_json
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.monitoring.drift import DriftReport

app = typer.Typer(
    help="Monitoring: drift, quality once labels arrive, monitors and alerts.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LogDirOpt = Annotated[
    str | None, typer.Option("--log-dir", help="Prediction log (default $SHIPYARD_HOME/predictions).")
]
WindowOpt = Annotated[str, typer.Option("--window", "-w", help="1h, 30m, 1d, 7d or last:N (rows).")]


def _print_drift(report: DriftReport, title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column in ("FEATURE", "TYPE", "METHOD", "SCORE", "P-VALUE", "THRESHOLD", "VERDICT"):
        table.add_column(column)
    for f in [*report.features, *([report.prediction] if report.prediction else [])]:
        p = "-" if f.p_value is None else f"{f.p_value:.3g}"
        word = ("drift" if f.drift else "ok") + ("" if f.exact else " (approx.)")
        verdict = plain(word, "red" if f.drift else "green")
        table.add_row(f.feature, f.kind, f.method, f"{f.score:.4g}", p, f"{f.threshold:g}", verdict)
    out = console()
    out.print(table)
    share = f"{len(report.drifted)}/{len(report.features)} features drifted"
    out.print(f"{report.rows} rows; {share}; dataset drift: {'yes' if report.dataset_drift else 'no'}")
    if any(not f.exact for f in report.features):
        out.print(
            "approx.: decided on the sketches while the error bound straddles the threshold "
            "(the reference profile keeps no raw data for an exact second pass)",
            style="yellow",
        )
    for name in report.missing_features:
        out.print(f"feature {name!r} is missing from the prediction log", style="yellow")
    for name in report.no_data:
        out.print(f"feature {name!r}: no values in this window", style="yellow")


@app.command("drift")
def drift(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A deployment name or models:/NAME/VERSION.")],
    window: WindowOpt = "1d",
    method: Annotated[
        list[str] | None, typer.Option("--method", help="FEATURE=METHOD[:THRESHOLD], e.g. age=psi:0.2.")
    ] = None,
    log_dir: LogDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Drift of the logged inputs and predictions in a window against the training reference."""
    from shipyard.core.clock import utcnow
    from shipyard.monitoring.service import deployment_drift
    from shipyard.monitoring.windows import Window

    overrides = {}
    for item in method or []:
        name, _, rest = item.partition("=")
        how, _, limit = rest.partition(":")
        if not name or not how:
            raise typer.BadParameter(f"--method {item!r}: use FEATURE=METHOD[:THRESHOLD]")
        overrides[name] = (how, float(limit) if limit else None)
    outcome = deployment_drift(
        state(ctx).stores, target, Window.parse(window, utcnow()), log_dir=log_dir, overrides=overrides
    )
    if as_json:
        print_json(outcome.to_dict())
    elif outcome.report is None:
        console().print(f"{outcome.deployment}: {outcome.note} ({outcome.window.label()})")
    else:
        _print_drift(
            outcome.report,
            f"drift of {outcome.deployment} ({outcome.model} v{outcome.version}), {outcome.window.label()}",
        )


@app.command("quality")
def quality(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment name.")],
    window: WindowOpt = "1d",
    every: Annotated[str, typer.Option("--every", help="Bucket size, e.g. 1h.")] = "1h",
    log_dir: LogDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Quality per time window from the labels received so far (by prediction time)."""
    from shipyard.core.clock import utcnow
    from shipyard.monitoring.logs import default_log_dir
    from shipyard.monitoring.quality import quality_over_time
    from shipyard.monitoring.windows import Window, parse_span

    span = Window.parse(window, utcnow())
    if span.start is None or span.end is None:
        raise typer.BadParameter("quality needs a time window such as 1d, not last:N")
    rows = quality_over_time(
        log_dir or default_log_dir(), deployment, span.start, span.end, parse_span(every)
    )
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    from rich.table import Table

    table = Table(title=f"quality of {deployment}", title_justify="left", box=None, pad_edge=False)
    for column in ("WINDOW START (UTC)", "PREDICTIONS", "LABELLED", "METRICS"):
        table.add_column(column)
    for r in rows:
        metrics = "  ".join(f"{k}={v:.3f}" for k, v in r.metrics.items()) or r.note
        table.add_row(
            f"{r.start:%Y-%m-%d %H:%M}" if r.start else "-", str(r.predictions), str(r.labelled), metrics
        )
    console().print(table)


@app.command("profile")
def profile(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="models:/NAME/VERSION (or NAME@ALIAS).")],
    data: Annotated[Path, typer.Argument(help="Training data as Parquet (features, optional 'prediction').")],
) -> None:
    """Store DATA's profile as the reference of a model version."""
    from shipyard.monitoring.service import save_reference

    result = save_reference(state(ctx).stores, model, data)
    console().print(f"reference profile stored: {result.rows} rows, {len(result.features)} features")


@app.command("labels")
def labels(
    deployment: Annotated[str, typer.Argument(help="The deployment name.")],
    data: Annotated[
        Path, typer.Argument(help="CSV or Parquet with request_id and label columns (row optional).")
    ],
    log_dir: LogDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record ground-truth labels for logged predictions (unknown request ids are counted)."""
    import pandas as pd

    from shipyard.monitoring.logs import log_labels

    frame = pd.read_parquet(data) if data.suffix == ".parquet" else pd.read_csv(data)
    missing = {"request_id", "label"} - set(frame.columns)
    if missing:
        raise typer.BadParameter(f"{data} lacks column(s) {sorted(missing)}")
    rows = frame["row"].tolist() if "row" in frame.columns else None
    result = log_labels(
        frame["request_id"].astype(str).tolist(),
        frame["label"].tolist(),
        deployment=deployment,
        log_dir=log_dir,
        rows=rows,
    )
    if as_json:
        print_json(result.to_dict())
        return
    console().print(
        f"{result.matched} of {result.received} labels joined; {result.unknown} unknown request ids"
        + (f" (e.g. {', '.join(result.unknown_ids[:3])})" if result.unknown else "")
    )


@app.command("create")
def create(
    ctx: typer.Context, spec: Annotated[Path, typer.Argument(help="Monitor spec, YAML or JSON.")]
) -> None:
    """Declare (or update) a monitor from a spec file (format in shipyard.monitoring.monitors)."""
    import yaml

    from shipyard.monitoring.monitors import validate_spec
    from shipyard.monitoring.store import MonitoringStore

    loaded = yaml.safe_load(spec.read_text())
    if not isinstance(loaded, dict):
        raise typer.BadParameter(f"{spec}: expected a mapping with name, deployment, checks")
    checked = validate_spec(loaded)
    MonitoringStore(state(ctx).stores).put_monitor(checked["name"], checked["deployment"], checked)
    console().print(f"monitor {checked['name']} on {checked['deployment']}: {', '.join(checked['checks'])}")


@app.command("run")
def run(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Monitors to run (default: all).")] = None,
    loop: Annotated[
        bool, typer.Option("--loop", help="Keep running each monitor on its schedule (every).")
    ] = False,
    log_dir: LogDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate monitors: store results, open/resolve alerts, post webhooks."""
    from shipyard.monitoring.monitors import MonitorRun
    from shipyard.monitoring.scheduler import MonitorScheduler
    from shipyard.monitoring.store import MonitoringStore

    stores = state(ctx).stores
    known = [s["name"] for s in MonitoringStore(stores).list_monitors()]
    chosen = [n for n in known if not names or n in names]
    if not chosen:
        raise typer.BadParameter("no monitors to run; declare one with `shipyard monitor create SPEC`")

    def show(result: MonitorRun) -> None:
        if as_json:
            print_json(result.to_dict())
            return
        breached = [r for r in result.results if r.breached]
        console().print(
            f"{result.monitor}: {len(result.results)} checks, {len(breached)} breached; "
            f"alerts opened {len(result.opened)}, ongoing {len(result.ongoing)}, "
            f"resolved {len(result.resolved)}" + "".join(f"; {n}" for n in result.notes)
        )

    scheduler = MonitorScheduler(stores, log_dir=log_dir, names=chosen, on_run=show)
    scheduler.run_due()
    while loop:
        time.sleep(5.0)
        scheduler.run_due()


@app.command("alerts")
def alerts(
    ctx: typer.Context, monitor: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False
) -> None:
    """Alert events, newest first (open ones have no resolved time)."""
    from shipyard.monitoring.store import MonitoringStore

    rows = MonitoringStore(state(ctx).stores).alerts(monitor)
    if as_json:
        print_json(rows)
        return
    for a in rows:
        status = "open" if a.resolved_at is None else f"resolved {a.resolved_at:%Y-%m-%d %H:%M}"
        console().print(
            f"{a.opened_at:%Y-%m-%d %H:%M} {a.monitor} {a.key}: {a.message} [{status}; {a.delivery}]"
        )


@app.command("report")
def report(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment name.")],
    html: Annotated[Path, typer.Option("--html", help="Write the self-contained HTML report here.")],
    window: WindowOpt = "1d",
    every: Annotated[str, typer.Option("--every", help="Bucket size for the charts.")] = "1h",
    log_dir: LogDirOpt = None,
) -> None:
    """A static HTML report: drift table, drift and quality over time, feature importance."""
    from shipyard.core.clock import utcnow
    from shipyard.monitoring.logs import default_log_dir
    from shipyard.monitoring.quality import quality_over_time
    from shipyard.monitoring.report import render_report
    from shipyard.monitoring.service import deployment_drift, drift_series
    from shipyard.monitoring.store import MonitoringStore
    from shipyard.monitoring.windows import Window, parse_span

    stores = state(ctx).stores
    log_dir = log_dir or default_log_dir()
    span = Window.parse(window, utcnow())
    if span.start is None or span.end is None:
        raise typer.BadParameter("the report needs a time window such as 1d")
    step: timedelta = parse_span(every)
    outcome = deployment_drift(stores, deployment, span, log_dir=log_dir)
    series = [
        (d.window.start, d.report)
        for d in drift_series(stores, deployment, span.start, span.end, step, log_dir=log_dir)
        if d.window.start
    ]
    quality_rows = quality_over_time(log_dir, deployment, span.start, span.end, step)
    importance = None
    if outcome.model is not None and outcome.version is not None:
        importance = MonitoringStore(stores).get_importance(outcome.model, outcome.version)
    page = render_report(
        f"Monitoring report: {deployment} ({span.label()})",
        outcome.report,
        quality_rows,
        series,
        importance,
        [outcome.note] if outcome.note else [],
    )
    html.write_text(page, encoding="utf-8")
    console().print(f"report written to {html}")


@app.command("explain")
def explain(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="models:/NAME/VERSION.")],
    data: Annotated[
        Path, typer.Argument(help="Parquet with the features (and a label column for importance).")
    ],
    label: Annotated[
        str | None, typer.Option("--label", help="Label column: compute and store permutation importance.")
    ] = None,
    rows: Annotated[int, typer.Option("--rows", help="Explain the first N rows.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Global permutation importance (stored with the version) or per-row contributions."""
    import pandas as pd

    from shipyard.monitoring.explain import explain_rows, permutation_importance
    from shipyard.monitoring.service import resolve_version
    from shipyard.monitoring.store import MonitoringStore
    from shipyard.registry.service import ModelRegistry

    stores = state(ctx).stores
    frame = pd.read_parquet(data)
    loaded = ModelRegistry(stores).load(model if model.startswith("models:/") else f"models:/{model}")
    if label is not None:
        if label not in frame.columns:
            raise typer.BadParameter(f"{data} has no column {label!r}")
        result = permutation_importance(loaded, frame.drop(columns=[label]), frame[label].tolist())
        version = resolve_version(stores, model)
        try:
            MonitoringStore(stores).set_importance(version.model_name, version.version, result)
        except Exception as exc:
            console().print(f"not stored: {exc}", style="yellow")
        if as_json:
            print_json(result)
        for k, v in result.items() if not as_json else ():
            console().print(f"{k:30} {v['mean']:.4f} ± {v['std']:.4f}")
        return
    print_json(explain_rows(loaded, frame.head(rows), frame))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="monitor")
