"""``shipyard render k8s``: the spec as Kubernetes manifests for a GitOps repository (registered
by cli.main). Files are written, never applied: Argo CD (or ``kubectl apply -k``) does that."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Render the spec as files for another system.", no_args_is_help=True)


@app.command("k8s")
def k8s_command(  # noqa: PLR0917 (Typer maps parameters to options)
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The folder to write (created; re-rendered in place).")
    ],
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="An environment to render (repeat; default: every one)."),
    ] = None,
    spec_file: Annotated[Path, typer.Option("--spec", "-f", help="The spec file.")] = Path("shipyard.yaml"),
    image: Annotated[
        str | None, typer.Option("--image", help="The image of deployments whose spec names none.")
    ] = None,
    helm: Annotated[
        bool, typer.Option("--helm", help="Also write a Helm chart under helm/<project>/.")
    ] = False,
    serving: Annotated[
        str,
        typer.Option(
            "--serving", help="deployment (a Deployment per service) or kserve (an InferenceService)."
        ),
    ] = "deployment",
    repo_url: Annotated[
        str | None,
        typer.Option(
            "--repo-url", help="The git repository Argo CD reads: write an Application per environment."
        ),
    ] = None,
    path: Annotated[
        str, typer.Option("--path", help="Where the output folder is inside that repository.")
    ] = "deploy/k8s",
    revision: Annotated[
        str, typer.Option("--revision", help="The branch, tag or commit Argo CD follows.")
    ] = "HEAD",
    argocd_namespace: Annotated[str, typer.Option("--argocd-namespace")] = "argocd",
    argocd_project: Annotated[
        str, typer.Option("--argocd-project", help="The Argo CD AppProject.")
    ] = "default",
    secret_store: Annotated[
        str | None,
        typer.Option(
            "--secret-store",
            help="An external-secrets.io SecretStore: write ExternalSecrets (else pods read a Secret "
            "<project>-secrets the cluster already has).",
        ),
    ] = None,
    cluster_secret_store: Annotated[
        bool, typer.Option("--cluster-secret-store", help="--secret-store names a ClusterSecretStore.")
    ] = False,
    env_secret: Annotated[
        str,
        typer.Option(
            "--env-secret",
            help="A Secret whose keys become every pod's environment (SHIPYARD_URI, SHIPYARD_TOKEN, "
            "AWS_*...); '' for none.",
        ),
    ] = "shipyard-env",  # noqa: S107 (a Secret's name)
    metrics_secret: Annotated[
        str,
        typer.Option("--metrics-secret", help="The Secret (key `token`) Prometheus scrapes /metrics with."),
    ] = "shipyard-metrics-token",  # noqa: S107 (a Secret's name)
    ingress_namespace: Annotated[
        str,
        typer.Option("--ingress-namespace", help="Where the ingress controller runs (may reach services)."),
    ] = "ingress-nginx",
    prometheus_namespace: Annotated[str, typer.Option("--prometheus-namespace")] = "monitoring",
    egress_cidr: Annotated[
        list[str] | None,
        typer.Option("--egress-cidr", help="Where the stores are (repeat; default anywhere: 0.0.0.0/0)."),
    ] = None,
    prediction_log: Annotated[
        str | None,
        typer.Option("--prediction-log", help="An s3:// prefix for the services' prediction logs."),
    ] = None,
) -> None:
    """Write a Kustomize base and an overlay per environment (and Argo CD Applications, a Helm chart)."""
    from shipyard.core.errors import InvalidInputError
    from shipyard.deploy.render.files import write
    from shipyard.deploy.render.k8s import owned, render_k8s
    from shipyard.deploy.render.options import RenderOptions
    from shipyard.deploy.spec.load import load_spec

    if serving not in ("deployment", "kserve"):
        raise InvalidInputError(f"--serving {serving!r}: use deployment or kserve")
    options = RenderOptions(
        image=image,
        serving="kserve" if serving == "kserve" else "deployment",
        helm=helm,
        repo_url=repo_url,
        path=path,
        revision=revision,
        argocd_namespace=argocd_namespace,
        argocd_project=argocd_project,
        secret_store=secret_store,
        secret_store_kind="ClusterSecretStore" if cluster_secret_store else "SecretStore",
        env_secret=env_secret or None,
        metrics_secret=metrics_secret,
        ingress_namespace=ingress_namespace,
        prometheus_namespace=prometheus_namespace,
        egress_cidrs=tuple(egress_cidr or ("0.0.0.0/0",)),
        prediction_log=prediction_log,
    )
    options.check()  # before the spec is read
    files = render_k8s(load_spec(spec_file), env, options)
    written, removed = write(files, output, owned(env))
    gone = f", removed {removed} stale" if removed else ""
    typer.echo(f"rendered {len(files)} files into {output} ({written} changed{gone})", err=True)
    if repo_url is None:
        typer.echo("no --repo-url: Argo CD Applications not written", err=True)
