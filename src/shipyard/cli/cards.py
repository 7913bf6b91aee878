"""``shipyard card get RUN STEP[/INDEX]``: a task's card as one standalone HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.main import state

app = typer.Typer(
    help="Task cards: the reports steps build (shipyard.card) and the default card.", no_args_is_help=True
)


def _default_name(run_id: str, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in key)
    return Path(f"card-{run_id[:12]}-{safe}.html")


@app.command("get")
def get_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id or unique prefix.")],
    task: Annotated[str, typer.Argument(help="STEP or STEP/INDEX (e.g. train/3) of a mapped step.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="The HTML file to write ('-': stdout; default card-RUN-TASK.html)."
        ),
    ] = None,
) -> None:
    """Write a task's card (its own card, then the default card) as a standalone HTML file: inline
    CSS, charts as SVG, images as data: URIs, no script and no external reference."""
    import sys

    from shipyard.cards.load import card_page, find_task_card
    from shipyard.core.errors import InvalidInputError
    from shipyard.runtime.api import resolve_run_id
    from shipyard.runtime.logs import select_tasks
    from shipyard.runtime.stores import open_run_stores

    stores = open_run_stores(state(ctx).settings)
    try:
        full_id = resolve_run_id(stores, run_id)
        run = stores.metadata.get_run(full_id)
        tasks = select_tasks(stores.metadata.list_tasks(full_id), task)
        if len(tasks) > 1:
            keys = ", ".join(t.key for t in tasks[:5]) + (", ..." if len(tasks) > 5 else "")
            raise InvalidInputError(
                f"step {task!r} has {len(tasks)} tasks ({keys}); name one as STEP/INDEX, e.g. {task}/0"
            )
        page = card_page(stores.artifacts, find_task_card(stores.metadata, run, tasks[0]))
    finally:
        stores.close()
    if output is not None and str(output) == "-":
        sys.stdout.write(page)
        return
    target = output or _default_name(full_id, tasks[0].key)
    target.write_text(page, encoding="utf-8")
    typer.echo(str(target))
