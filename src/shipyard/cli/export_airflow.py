"""``shipyard export airflow FLOW.py -o dags/``: the flow as an Airflow DAG file
(:mod:`shipyard.exporters.airflow`). :func:`register` adds the command to the ``export`` group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(export_app: typer.Typer) -> None:
    export_app.command("airflow")(airflow_command)


def airflow_command(  # noqa: PLR0917 (Typer maps parameters to options)
    file: Annotated[Path, typer.Argument(help="The flow file (a Python file with a @flow).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The DAGs folder (the file is DAG_ID.py) or a .py file.")
    ],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A flow parameter, KEY=VALUE.")
    ] = None,
    flow_name: Annotated[
        str | None, typer.Option("--flow", help="Which flow, when the file has several.")
    ] = None,
    operator: Annotated[
        str, typer.Option("--operator", help="kubernetes (a pod per task) or local (a subprocess).")
    ] = "kubernetes",
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="A cron expression or @daily...; default: manual runs.")
    ] = None,
    dag_id: Annotated[str | None, typer.Option("--dag-id", help="Default: shipyard_<flow>.")] = None,
    image: Annotated[
        str | None, typer.Option("--image", help="The pods' image, for steps without image= (kubernetes).")
    ] = None,
    python: Annotated[
        str, typer.Option("--python", help="The interpreter with shipyard installed, as the tasks see it.")
    ] = "python",
    flow_path: Annotated[
        str | None,
        typer.Option(
            "--flow-path",
            help="The flow file as the tasks see it (default: absolute for local, relative in an image).",
        ),
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", help="The pods' namespace.")] = None,
    env_secret: Annotated[
        str, typer.Option("--env-secret", help="The Secret holding SHIPYARD_* settings for the pods.")
    ] = "shipyard",  # noqa: S107 (a Secret's name)
    pool: Annotated[
        str | None, typer.Option("--pool", help="An Airflow pool; a step takes ceil(cpu) slots of it.")
    ] = None,
    gpu_queue: Annotated[
        str, typer.Option("--gpu-queue", help="The queue of steps asking for a GPU.")
    ] = "gpu",
    max_map_length: Annotated[
        int, typer.Option("--max-map-length", help="Airflow's [core] max_map_length: chunks per step.")
    ] = 1024,
) -> None:
    """Write FLOW as an Airflow DAG: `shipyard export airflow flow.py -o dags/`. Prints the file."""
    from shipyard.core.errors import FlowError
    from shipyard.exporters.airflow import OPERATORS, AirflowOptions, export
    from shipyard.flows.params import parse_cli_params

    if operator not in OPERATORS:
        raise FlowError(f"--operator {operator!r} is not one of: {', '.join(OPERATORS)}")
    options = AirflowOptions(
        operator="local" if operator == "local" else "kubernetes",
        dag_id=dag_id,
        schedule=schedule,
        python=python,
        image=image,
        namespace=namespace,
        env_secret=env_secret,
        pool=pool,
        gpu_queue=gpu_queue,
        max_map_length=max_map_length,
    )
    target = export(
        file, parse_cli_params(param or []), out, options, flow_name=flow_name, flow_path=flow_path
    )
    typer.echo(str(target))


def register_export(root: typer.Typer) -> None:
    """The ``export`` group, with ``export airflow`` in it (what the root registers lazily)."""
    from shipyard.cli import export

    register(export.app)
    root.add_typer(export.app, name="export")
