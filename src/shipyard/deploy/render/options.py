"""How ``shipyard render k8s`` renders: the image default, where configuration and secrets come
from, the namespaces traffic may come from, the git repository Argo CD reads. Checked once, at
the edge, with one-line errors that name the option."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

from shipyard.core.errors import FlowError, InvalidInputError
from shipyard.deploy.spec.models import size_bytes
from shipyard.exporters.k8s import check_resource_name

PORT = 8000  # the port ``shipyard serve`` listens on inside the pod
HOME = "/var/lib/shipyard"  # SHIPYARD_HOME: an emptyDir (the root file system is read-only)
RUN_AS = 10001  # a non-root uid/gid (checkov: above 10000)
_IMAGE = re.compile(r"^[a-z0-9]([a-z0-9._/:@-]*[a-zA-Z0-9._-])?$")
_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
Serving = Literal["deployment", "kserve"]


@dataclass(frozen=True)
class RenderOptions:
    """Everything a render needs beyond the spec (the CLI's options, with these defaults)."""

    image: str | None = None  # the image of deployments that do not name one
    serving: Serving = "deployment"  # "kserve": an InferenceService per online service
    helm: bool = False  # also a Helm chart under helm/<project>/
    repo_url: str | None = None  # the git repository Argo CD reads (no Applications without it)
    path: str = "deploy/k8s"  # where the rendered folder lives inside that repository
    revision: str = "HEAD"  # the branch, tag or commit Argo CD follows
    argocd_namespace: str = "argocd"
    argocd_project: str = "default"
    destination_server: str = "https://kubernetes.default.svc"
    secret_store: str | None = None  # an external-secrets.io store: ExternalSecrets, else plain refs
    secret_store_kind: Literal["SecretStore", "ClusterSecretStore"] = "SecretStore"  # noqa: S105
    env_secret: str | None = "shipyard-env"  # noqa: S105 (a Secret's name: SHIPYARD_URI, tokens, AWS_*)
    metrics_secret: str = "shipyard-metrics-token"  # noqa: S105 (a Secret's name: key `token`)
    ingress_namespace: str = "ingress-nginx"  # where the router/ingress controller runs
    prometheus_namespace: str = "monitoring"
    egress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    egress_ports: tuple[int, ...] = (443, 5432, 6379, 8080)
    prediction_log: str | None = None  # serve --log-dir (an s3:// prefix; default: an emptyDir)
    default_cpu: float = 0.5
    default_memory: str = "1Gi"
    extra_labels: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        if self.image is not None and not _IMAGE.match(self.image):
            raise InvalidInputError(
                f"--image {self.image!r} is not an image reference, e.g. ghcr.io/acme/fraud:1.2"
            )
        if self.serving not in ("deployment", "kserve"):
            raise InvalidInputError(f"--serving {self.serving!r}: use deployment or kserve")
        if self.repo_url is not None and not re.match(r"^(https://|ssh://|git@)\S+$", self.repo_url):
            raise InvalidInputError(
                f"--repo-url {self.repo_url!r} is not a git URL (https://..., ssh://... or git@host:org/repo)"
            )
        parts = self.path.split("/")
        if self.path.startswith("/") or ".." in parts or not self.path.strip("/") or "\\" in self.path:
            raise InvalidInputError(
                f"--path {self.path!r} must be the rendered folder's path inside the repository, "
                "like deploy/k8s"
            )
        if not self.revision or any(c.isspace() for c in self.revision):
            raise InvalidInputError(f"--revision {self.revision!r} is not a branch, tag or commit")
        if not self.destination_server.startswith("https://"):
            raise InvalidInputError(
                f"--destination-server {self.destination_server!r} must be an https:// URL"
            )
        for what, value in (
            ("--argocd-namespace", self.argocd_namespace),
            ("--argocd-project", self.argocd_project),
            ("--ingress-namespace", self.ingress_namespace),
            ("--prometheus-namespace", self.prometheus_namespace),
        ):
            if not _LABEL.match(value):
                raise InvalidInputError(f"{what} {value!r} is not a namespace name (a lower-case DNS label)")
        for what, name in (
            ("--secret-store", self.secret_store),
            ("--env-secret", self.env_secret),
            ("--metrics-secret", self.metrics_secret),
        ):
            if name is not None:
                try:
                    check_resource_name(name, what)
                except FlowError as exc:
                    raise InvalidInputError(str(exc)) from None
        for cidr in self.egress_cidrs:
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise InvalidInputError(f"--egress-cidr {cidr!r} is not a CIDR like 10.0.0.0/8") from None
        for port in self.egress_ports:
            if not 1 <= port <= 65535:
                raise InvalidInputError(f"--egress-port {port} is not a port (1-65535)")
        if self.prediction_log is not None and not self.prediction_log.startswith("s3://"):
            raise InvalidInputError(
                f"--prediction-log {self.prediction_log!r} must be an s3:// prefix (a pod's disk is not kept)"
            )
        if not 0 < self.default_cpu <= 1024:
            raise InvalidInputError(f"--default-cpu {self.default_cpu:g} must be above 0 and at most 1024")
        try:
            size_bytes(self.default_memory)
        except ValueError as exc:
            raise InvalidInputError(f"--default-memory: {exc}") from None
