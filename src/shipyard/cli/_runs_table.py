"""The table ``shipyard runs list`` prints, shared by the Typer command and its fast path
(:mod:`shipyard.cli._fast`), so the two print the same thing by construction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.cli._output import console, fmt_duration, fmt_time, fmt_value, line, store_label, styled_status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shipyard.core.entities import Run


def print_runs(runs: Sequence[Run], where: str, extra: Sequence[tuple[str, str]], store_uri: str) -> None:
    """``runs`` as a table titled ``runs in <where>`` with the ``extra`` (kind, key) columns; an
    empty listing names the store it read."""
    if not runs:
        console().print(line((f"no runs in {where} of the store {store_label(store_uri)}", "dim")))
        return
    from rich.table import Table

    table = Table(title=f"runs in {where}", title_justify="left", box=None, pad_edge=False)
    for column in ("ID", "NAME", "STATUS", "FLOW", "NAMESPACE", "STARTED (UTC)", "DURATION"):
        table.add_column(column, no_wrap=column in ("ID", "STARTED (UTC)"))
    for kind, key in extra:
        table.add_column(f"{kind}.{key}", justify="right" if kind == "metrics" else "left")
    for run in runs:
        values: dict[str, dict[str, Any]] = {"metrics": run.metrics, "params": run.params, "tags": run.tags}
        table.add_row(
            run.id[:12],
            run.name,
            styled_status(run.status.value),
            run.flow_name or "-",
            run.namespace,
            fmt_time(run.start_time),
            fmt_duration(run.duration_s),
            *(fmt_value(values[kind][key]) if key in values[kind] else "-" for kind, key in extra),
        )
    console().print(table)
