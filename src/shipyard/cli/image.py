"""``shipyard image build FLOW.py``: write the Dockerfile of a flow's exported runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.main import state

app = typer.Typer(help="Container images for exported runs.", no_args_is_help=True)


@app.command("build")
def build_command(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The flow file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write it.")] = Path("Dockerfile"),
    flow_name: Annotated[
        str | None, typer.Option("--flow", help="The flow, when the file has several.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A flow parameter, KEY=VALUE.")
    ] = None,
    step: Annotated[str | None, typer.Option("--step", help="Build the image of this step only.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite a Dockerfile shipyard did not write.")
    ] = False,
) -> None:
    """Write a Dockerfile from the flow's locks: Python, shipyard, each step environment, the code."""
    import shipyard
    from shipyard.core.errors import FlowError
    from shipyard.flows.params import parse_cli_params
    from shipyard.runtime.envs.image import MARKER, dockerfile_for
    from shipyard.runtime.loader import load_flow

    settings = state(ctx).settings
    if output.exists() and not force:
        head = output.read_text(encoding="utf-8", errors="replace")[:400]
        if MARKER not in head:
            raise FlowError(f"{output} exists and was not written by shipyard; pass --force or -o PATH")
    loaded = load_flow(file, flow_name)
    graph = loaded.flow.build(parse_cli_params(param or []))
    text = dockerfile_for(
        graph,
        loaded.flow.env,
        loaded.path,
        settings.home,
        step=step,
        shipyard_requirement=f"shipyard=={shipyard.__version__}",
    )
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")
