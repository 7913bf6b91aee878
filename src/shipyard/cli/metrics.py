"""``shipyard metrics RUN KEY``: one metric's history, a page at a time, with a terminal sparkline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated

import typer

from shipyard.cli.main import state

_BARS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 60


def sparkline(values: Sequence[float], width: int = SPARK_WIDTH) -> str:
    """Values as block characters, at most ``width`` of them (each the mean of its bucket);
    a bucket with no finite value is a space."""
    if not values:
        return ""
    buckets = max(1, min(width, len(values)))
    means: list[float] = []
    for i in range(buckets):
        chunk = values[i * len(values) // buckets : (i + 1) * len(values) // buckets]
        finite = [v for v in chunk if math.isfinite(v)]
        means.append(sum(finite) / len(finite) if finite else math.nan)
    finite_means = [m for m in means if math.isfinite(m)]
    if not finite_means:
        return " " * len(means)
    low, high = min(finite_means), max(finite_means)
    span = high - low
    top = len(_BARS) - 1
    return "".join(
        " " if not math.isfinite(m) else _BARS[0 if span == 0 else round((m - low) / span * top)]
        for m in means
    )


def metrics_command(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id or a unique prefix of one.")],
    key: Annotated[str, typer.Argument(help="The metric, e.g. loss or train/loss.")],
    limit: Annotated[
        int, typer.Option("--limit", "-l", min=1, max=10_000, help="Points per page (at most 10000).")
    ] = 1000,
    page_token: Annotated[
        str | None, typer.Option("--page-token", help="Where the previous page left off.")
    ] = None,
    rows: Annotated[
        int, typer.Option("--rows", min=0, help="Points listed under the sparkline (the last ones).")
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One metric's history (a page of points in the order logged) with a sparkline."""
    from shipyard.cli._output import console, fmt_value, line, print_json
    from shipyard.core.names import validate_key

    validate_key("metric", key)
    client = state(ctx).client()
    run = client.get_run(run_id)
    page = client.metadata.get_metric_history_page(run.id, key, limit=limit, page_token=page_token)
    points = page.metrics
    if as_json:
        print_json(
            {
                "run_id": run.id,
                "key": key,
                "points": [{"step": p.step, "value": p.value, "timestamp": p.timestamp} for p in points],
                "next_page_token": page.next_page_token,
            }
        )
        return
    out = console()
    if not points:
        out.print(line((f"run {run.id} has no points of metric {key!r} on this page", "dim")))
        if key not in run.metrics and run.metrics:
            out.print(line("metrics of this run: ", ", ".join(sorted(run.metrics))))
        return
    values = [p.value for p in points]
    finite = [v for v in values if math.isfinite(v)]
    out.print(line((key, "bold"), f"  {run.name} ({run.id[:12]})  {len(points)} points"))
    out.print(line("  ", (sparkline(values), "cyan")))
    if finite:
        out.print(
            line(
                f"  min {fmt_value(min(finite))}  max {fmt_value(max(finite))}  "
                f"last {fmt_value(values[-1])} (step {points[-1].step})"
            )
        )
    if rows:
        out.print(line(("  STEP        VALUE", "bold")))
        for point in points[-rows:]:
            out.print(line(f"  {point.step:<11} {fmt_value(point.value)}"))
    if page.next_page_token:
        out.print(
            line(
                ("next page: ", "dim"),
                f"shipyard metrics {run.id} {key} --limit {limit} --page-token {page.next_page_token}",
            )
        )
