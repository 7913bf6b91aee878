"""``shipyard serve`` (an online inference service) and ``shipyard batch`` (batch inference)."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli._edge import AllowedHosts, ForwardedAllowIps, max_auth_failures_option, parse_proxies
from shipyard.cli.branches import BranchOption, branch_model_uri, use_branch
from shipyard.cli.main import state


def _size(text: str) -> int:
    from shipyard.cli.server import _parse_size

    return _parse_size(text)


_UNSAFE_HELP = "Load pickle-based models: this runs code from the package; only for packages you trust."
_TRUST_HELP = (
    "A class or function the model package may contain beyond the built-in allow-list, by exact name "
    "(e.g. mypkg.features.Shift, or mypkg.nets:Net for PyTorch); repeat for several."
)


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(  # noqa: PLR0917 (Typer maps parameters to options)
        ctx: typer.Context,
        model: Annotated[
            str, typer.Argument(help="models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN/ARTIFACT")
        ],
        host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Server processes.")] = 1,
        no_auth: Annotated[
            bool, typer.Option("--no-auth", help="Serve without tokens (refused except on loopback).")
        ] = False,
        route: Annotated[
            list[str] | None,
            typer.Option("--route", help="Traffic split, e.g. --route champion=90 --route candidate=10."),
        ] = None,
        shadow: Annotated[
            str | None,
            typer.Option("--shadow", help="A version (alias or number) that gets a copy of traffic."),
        ] = None,
        experiment: Annotated[
            str | None,
            typer.Option(
                "--experiment",
                help="Run the two --route options as this A/B experiment: arms logged, errors "
                "logged, the challenger stopped when the experiment's state says so.",
            ),
        ] = None,
        assign_key: Annotated[
            str | None,
            typer.Option(
                "--assign-key", help="Sticky experiment assignment by this request key (customer_id)."
            ),
        ] = None,
        max_batch_size: Annotated[
            int, typer.Option("--max-batch-size", min=1, help="Rows per model call.")
        ] = 64,
        max_wait_ms: Annotated[
            float, typer.Option("--max-wait-ms", min=0, help="Longest wait for a micro-batch to fill.")
        ] = 2.0,
        max_queue: Annotated[
            int, typer.Option("--max-queue", min=1, help="Requests waiting per version before 503.")
        ] = 256,
        max_in_flight: Annotated[
            int,
            typer.Option(
                "--max-in-flight",
                min=0,
                help="Most requests in flight, then 503 (0: --max-queue + --max-batch-size; adapts below).",
            ),
        ] = 0,
        timeout: Annotated[
            float, typer.Option("--timeout", help="Per-request timeout in seconds (504).")
        ] = 10.0,
        max_body: Annotated[str, typer.Option("--max-body", help="Largest request body (413).")] = "4M",
        log_dir: Annotated[
            str | None,
            typer.Option(
                "--log-dir",
                help="Prediction log folder or s3:// prefix (default: SHIPYARD_HOME/predictions).",
            ),
        ] = None,
        no_log: Annotated[bool, typer.Option("--no-log", help="Do not write the prediction log.")] = False,
        deployment: Annotated[
            str, typer.Option("--deployment", help="Name in the prediction log (default: the model name).")
        ] = "",
        allow_unsafe_model: Annotated[bool, typer.Option("--allow-unsafe-model", help=_UNSAFE_HELP)] = False,
        trust: Annotated[list[str] | None, typer.Option("--trust", metavar="NAME", help=_TRUST_HELP)] = None,
        secret: Annotated[
            list[str] | None,
            typer.Option(
                "--secret",
                metavar="NAME",
                help="A secret of SHIPYARD_PROJECT/SHIPYARD_ENVIRONMENT set as the environment variable "
                "NAME (upper-cased) of the service (repeat).",
            ),
        ] = None,
        features: Annotated[
            list[str] | None,
            typer.Option(
                "--features",
                metavar="VIEW[:FEATURE]",
                help="A feature view (all its features) or one feature that gives model inputs; "
                'then POST /predict also takes {"entities": [{"<join key>": ...}]} (repeat).',
            ),
        ] = None,
        online_store: Annotated[
            str | None,
            typer.Option(
                "--online-store",
                help="Online store URI for --features (default: SHIPYARD_ONLINE_STORE or "
                "SHIPYARD_HOME/online.db).",
            ),
        ] = None,
        max_entities: Annotated[
            int, typer.Option("--max-entities", min=1, help="Most entities in one request (422 beyond).")
        ] = 1000,
        log_level: Annotated[str, typer.Option("--log-level")] = "warning",
        allowed_hosts: AllowedHosts = None,
        max_auth_failures: Annotated[int, max_auth_failures_option("token checks")] = 20,
        forwarded_allow_ips: ForwardedAllowIps = "",
        branch: BranchOption = None,
    ) -> None:
        """Serve MODEL over HTTP: POST /predict, /feedback, /docs, /health, /ready, /metrics.
        Requests need a platform token (shipyard tokens create) unless --no-auth (loopback only).
        With --features, /predict also predicts by entity key from the online feature store."""
        from shipyard.security.network import parse_allowed_hosts
        from shipyard.serving.config import Route, ServingConfig, default_log_dir
        from shipyard.serving.run import serve as run_serve

        model_uri = model if model.startswith(("models:/", "runs:/")) else f"models:/{model}"
        if use_branch(ctx, branch) is not None:  # the branch's own model when it has one
            model_uri = branch_model_uri(state(ctx).stores, model_uri)
        settings = state(ctx).settings
        config = ServingConfig(
            model_uri=model_uri,
            routes=tuple(Route.parse(r) for r in route or ()),
            shadow=shadow,
            deployment=deployment,
            auth=not no_auth,
            allow_unsafe_model=allow_unsafe_model,
            trusted=tuple(trust or ()),
            secrets=tuple(secret or ()),
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            max_queue=max_queue,
            max_in_flight=max_in_flight,
            timeout_s=timeout,
            max_body_bytes=_size(max_body),
            log_dir=None if no_log else (log_dir or default_log_dir(settings.home)),
            allowed_hosts=parse_allowed_hosts(allowed_hosts),
            auth_failures=max_auth_failures,
            features=tuple(features or ()),
            online_store=(online_store or settings.online_store_uri) if features else None,
            max_entities=max_entities,
            experiment=experiment,
            assign_key=assign_key,
            router_key=_router_key(),
        )
        proxies = parse_proxies(forwarded_allow_ips)
        run_serve(
            settings,
            config,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            forwarded_allow_ips=proxies,
        )

    @app.command("batch")
    def batch(  # noqa: PLR0917
        ctx: typer.Context,
        model: Annotated[
            str, typer.Argument(help="models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN/ARTIFACT")
        ],
        input_path: Annotated[
            str,
            typer.Argument(
                metavar="INPUT",
                help="A .parquet/.csv file or a Parquet folder (local or s3://), or a dataset "
                "(datasets:/NAME/VERSION or datasets:/NAME@ALIAS, read under your data policies).",
            ),
        ],
        output: Annotated[
            str,
            typer.Argument(
                help="OUTPUT.parquet / OUTPUT.csv (one file) or a folder of parts (local or s3://)."
            ),
        ],
        chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1, help="Rows per chunk.")] = 100_000,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel scoring threads.")] = 1,
        keep: Annotated[
            str,
            typer.Option(
                "--keep",
                help="Input columns copied to the output beside the prediction: all, none, "
                "or a comma-separated list (e.g. id,ts).",
            ),
        ] = "all",
        allow_unsafe_model: Annotated[bool, typer.Option("--allow-unsafe-model", help=_UNSAFE_HELP)] = False,
        trust: Annotated[list[str] | None, typer.Option("--trust", metavar="NAME", help=_TRUST_HELP)] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Score INPUT into OUTPUT in chunks; rerun the same command to resume after a crash."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from shipyard.serving.batch import batch_predict

        uri = model if model.startswith(("models:/", "runs:/")) else f"models:/{model}"
        stores = state(ctx).stores
        console = Console(stderr=True)
        columns = [
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=console, disable=quiet, transient=False) as bar:
            task = bar.add_task("rows", total=None)

            def progress(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            result = batch_predict(
                uri,
                input_path,
                output,
                chunk_rows=chunk_rows,
                workers=workers,
                stores=stores,
                allow_unsafe=allow_unsafe_model,
                trusted=tuple(trust or ()),
                progress=progress,
                keep=keep,
            )
        resumed = f", {result.skipped_chunks} chunks done before" if result.skipped_chunks else ""
        console.print(
            f"scored {result.rows} rows with {uri} (version {result.version}) in {result.seconds:.1f} s "
            f"({result.rows_per_s:,.0f} rows/s{resumed}) -> {result.output}",
            highlight=False,
        )


def _router_key() -> str | None:
    """The agent's arm-signing key (taken out of the environment: the model's code and the
    processes it starts never see it)."""
    import os

    from shipyard.experiments.armtag import KEY_ENV

    return os.environ.pop(KEY_ENV, None) or None
