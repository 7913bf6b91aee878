"""``shipyard export argo FLOW.py``: a flow as a workflow spec for an orchestrator (registered by
cli.main). The spec is written, never submitted: it is what Argo CD (or ``kubectl apply``) syncs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.main import state

app = typer.Typer(help="Export a flow as an orchestrator's workflow spec.", no_args_is_help=True)


@app.command("argo")
def argo_command(  # noqa: PLR0917 (Typer maps parameters to options)
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The flow file (a Python file with one @flow).")],
    image: Annotated[
        str, typer.Option("--image", help="The image every step runs in, unless @step(image=...) names one.")
    ],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A flow parameter, KEY=VALUE (fixed at export).")
    ] = None,
    flow_name: Annotated[
        str | None, typer.Option("--flow", help="Which flow, when the file has several.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the YAML here (default: stdout).")
    ] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="A cron expression: export a CronWorkflow.")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="The schedule's time zone, e.g. Europe/Paris.")
    ] = None,
    chunk: Annotated[
        int, typer.Option("--chunk", help="Tasks per pod: raise it for fan-outs of thousands of short tasks.")
    ] = 1,
    code_dir: Annotated[
        str, typer.Option("--code-dir", help="Where the image holds the project (the flow file's root).")
    ] = "/app",
    code_package: Annotated[
        bool,
        typer.Option(
            "--code-package",
            help="Store the project's code as a package in the artifact store now (SHIPYARD_ARTIFACTS "
            "must be the store the pods use); the pods fetch it by digest, so the image needs no code.",
        ),
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="metadata.name (default: the flow's).")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", help="metadata.namespace.")] = None,
    env_secret: Annotated[
        str,
        typer.Option(
            "--env-secret",
            help="The Secret whose keys become every container's environment (SHIPYARD_URI, "
            "SHIPYARD_ARTIFACTS, AWS_*...); '' for none.",
        ),
    ] = "shipyard-env",  # noqa: S107 (a Secret's name)
    env_config_map: Annotated[
        str | None, typer.Option("--env-config-map", help="A ConfigMap for the same, if any.")
    ] = None,
    secrets_secret: Annotated[
        str,
        typer.Option(
            "--secrets-secret", help="The Secret holding the steps' secrets, one key per secret name."
        ),
    ] = "shipyard-secrets",  # noqa: S107 (a Secret's name)
    service_account: Annotated[
        str | None, typer.Option("--service-account", help="The pods' service account.")
    ] = None,
    parallelism: Annotated[
        int | None, typer.Option("--parallelism", help="At most this many pods at once.")
    ] = None,
    events_out: Annotated[
        Path | None,
        typer.Option(
            "--events-out",
            help="Also write the flow's triggers as an Argo Events EventSource + Sensor here "
            "(report events with `shipyard schedule run FLOW.py --notify URL`).",
        ),
    ] = None,
) -> None:
    """Write a flow as an Argo WorkflowTemplate (a CronWorkflow with --schedule)."""
    from shipyard.exporters.argo import ArgoOptions, export, to_yaml
    from shipyard.exporters.source import flow_ref
    from shipyard.flows.params import parse_cli_params

    options = ArgoOptions(
        image=image,
        name=name,
        namespace=namespace,
        chunk=chunk,
        schedule=schedule,
        timezone=timezone,
        env_secret=env_secret or None,
        env_config_map=env_config_map or None,
        secrets_secret=secrets_secret,
        service_account=service_account,
        parallelism=parallelism,
    )
    options.check()  # before the flow file is imported
    artifacts = state(ctx).stores.artifacts if code_package else None
    flow = flow_ref(file, parse_cli_params(param or []), flow_name, code_dir, artifacts)
    doc = export(flow, options)
    text = to_yaml(doc, file.name)
    if events_out is not None:
        _write_events(flow.name, flow.triggers, doc["metadata"]["name"], namespace, events_out, file.name)
    if output is None:
        typer.echo(text, nl=False)
        return
    _write(output, text)


def _write(output: Path, text: str) -> None:
    from shipyard.core.errors import InvalidInputError

    if output.is_dir():
        raise InvalidInputError(f"{output} is a folder; name the YAML file to write, e.g. -o workflow.yaml")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output} ({len(text.encode()) / 1024:.1f} KB)", err=True)


def _write_events(  # noqa: PLR0917 (the pieces of one file)
    flow: str, sources: tuple[str, ...], template: str, namespace: str | None, output: Path, source: str
) -> None:
    from shipyard.core.errors import InvalidInputError
    from shipyard.exporters.argo import to_yaml
    from shipyard.exporters.argo_events import EventsOptions, export_events

    docs = export_events(flow, sources, template, EventsOptions(namespace=namespace))
    if not docs:
        raise InvalidInputError(
            f"flow {flow!r} has no trigger; --events-out needs @flow(trigger=on_dataset(...)) "
            "or on_model(...)"
        )
    _write(output, "---\n".join(to_yaml(d, source) for d in docs))
