"""The objects of one deployment in one environment's view: a service's Deployment, Service,
HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy and ServiceMonitor; a batch job's
CronJob. Plain dicts, no namespace (the overlay sets it).

Every pod runs as uid 10001 on a read-only root file system (``SHIPYARD_HOME`` and ``/tmp`` are
emptyDirs), with no capabilities, no privilege escalation, the runtime's seccomp profile and no
service-account token. CPU and memory are requested and limited alike (Guaranteed QoS: a
service's latency does not depend on its neighbours); GPUs are ``nvidia.com/gpu``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import InvalidInputError
from shipyard.deploy.render.command import batch_args, serve_args
from shipyard.deploy.render.options import HOME, PORT, RUN_AS, RenderOptions
from shipyard.deploy.spec.models import BatchJob, Environment, Resources, Service, secret_refs, size_bytes

Obj = dict[str, Any]
_SECRET_REF = re.compile(r"\$\{secret:([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Context:
    """Where objects are rendered for: the project, an environment (None: the Kustomize base)."""

    project: str
    env_name: str | None
    environment: Environment | None
    options: RenderOptions

    @property
    def settings_name(self) -> str:
        return f"{self.project}-settings"

    @property
    def secrets_name(self) -> str:
        return f"{self.project}-secrets"


def labels(ctx: Context, name: str, component: str) -> dict[str, str]:
    return {
        **ctx.options.extra_labels,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "shipyard",
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": ctx.project,
    }


def selector(ctx: Context, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": ctx.project}


def meta(name: str, labels_: dict[str, str]) -> Obj:
    return {"name": name, "labels": labels_}


# ---- the container ---------------------------------------------------------------------------------
def quantity_cpu(cpu: float) -> str:
    return str(int(cpu)) if float(cpu).is_integer() else f"{math.ceil(cpu * 1000)}m"


def quantity_memory(text: str) -> str:
    """A spec size (``2GB``, ``512Mi``, ``1.5GiB``) as a Kubernetes quantity (``2G``, ``512Mi``,
    ``1536Mi``)."""
    n = size_bytes(text)
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("G", 10**9), ("M", 10**6), ("Ki", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def container_resources(ctx: Context, asked: Resources) -> Obj:
    """Requests = limits for CPU and memory (the spec's, else the defaults capped at the
    environment's per-deployment limit); GPUs as ``nvidia.com/gpu``."""
    limit = ctx.environment.policies.compute.deployment if ctx.environment else Resources()
    cpu = asked.cpu
    if cpu is None:
        cpu = min(ctx.options.default_cpu, limit.cpu) if limit.cpu is not None else ctx.options.default_cpu
    memory = asked.memory
    if memory is None:
        memory = ctx.options.default_memory
        if limit.memory is not None and size_bytes(limit.memory) < size_bytes(memory):
            memory = limit.memory
    amounts = {"cpu": quantity_cpu(cpu), "memory": quantity_memory(memory)}
    if asked.gpu:
        amounts["nvidia.com/gpu"] = str(asked.gpu)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def check_settings(ctx: Context) -> None:
    """Settings become environment variables: each name must be one."""
    for key in ctx.environment.settings if ctx.environment else {}:
        if not _ENV_NAME.match(key):
            raise InvalidInputError(
                f"environments.{ctx.env_name}.settings: {key!r} is not an environment variable name "
                "(letters, digits and '_', not starting with a digit)"
            )


def env_vars(ctx: Context, secrets: list[str]) -> list[Obj]:
    """Settings that read secrets (``${secret:NAME}``) and the deployment's own secrets, from keys
    of the project's Secret; a setting with text around its secrets is composed by Kubernetes'
    ``$(VAR)`` expansion from variables defined before it. Plain settings are in the ConfigMap."""
    out: list[Obj] = []
    settings = ctx.environment.settings if ctx.environment else {}
    composed = {k: v for k, v in sorted(settings.items()) if secret_refs(v)}
    inner = sorted({n for v in composed.values() for n in secret_refs(v)})
    for name in inner:
        if any(v != f"${{secret:{name}}}" for v in composed.values() if name in secret_refs(v)):
            out.append(_from_secret(ctx, f"SHIPYARD_SECRET_{name.upper()}", name))
    for key, value in composed.items():
        refs = secret_refs(value)
        if value == f"${{secret:{refs[0]}}}":
            out.append(_from_secret(ctx, key, refs[0]))
        else:
            expanded = _SECRET_REF.sub(
                lambda m: f"$(SHIPYARD_SECRET_{m.group(1).upper()})", value.replace("$(", "$$(")
            )
            out.append({"name": key, "value": expanded})
    for name in sorted(secrets):
        out.append(_from_secret(ctx, name.upper(), name))
    return out


def _from_secret(ctx: Context, var: str, key: str) -> Obj:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": ctx.secrets_name, "key": key}}}


def container(ctx: Context, name: str, image: str, *, args: list[str], env: list[Obj], resources: Obj) -> Obj:
    env_from: list[Obj] = []
    if ctx.options.env_secret:
        env_from.append({"secretRef": {"name": ctx.options.env_secret}})
    env_from.append({"configMapRef": {"name": ctx.settings_name}})  # last: the spec's settings win
    out: Obj = {
        "name": name,
        "image": image,
        "imagePullPolicy": "Always",
        "command": ["shipyard"],
        "args": args,
        "envFrom": env_from,
        "resources": resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
        },
        "volumeMounts": [{"name": "home", "mountPath": HOME}, {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
    }
    if env:
        out["env"] = env
    return out


def pod_spec(containers: list[Obj], **extra: Any) -> Obj:
    return {
        "automountServiceAccountToken": False,
        "containers": containers,
        "securityContext": {
            "fsGroup": RUN_AS,
            "runAsGroup": RUN_AS,
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumes": [{"name": "home", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
        **extra,
    }


def image_for(ctx: Context, name: str, declared: str | None) -> str:
    image = declared or ctx.options.image
    if image is None:
        raise InvalidInputError(
            f"deployments.{name} names no image; set deployments.{name}.image or pass --image"
        )
    if ctx.environment is not None:
        allowed = ctx.environment.policies.images.registries
        if allowed and not any(image == r or image.startswith(r.rstrip("/") + "/") for r in allowed):
            raise InvalidInputError(
                f"image {image!r} of deployment {name!r} is not from a registry environment "
                f"{ctx.env_name!r} allows ({', '.join(allowed)})"
            )
    return image


# ---- a service ---------------------------------------------------------------------------------------
def serve_container(ctx: Context, name: str, svc: Service) -> Obj:
    if ctx.environment is not None and not svc.tokens.required:
        raise InvalidInputError(
            f"deployments.{name}.tokens.required is false in environment {ctx.env_name!r}: shipyard serve "
            "answers without tokens on loopback only, and a pod is reached over the network; set it to true"
        )
    args = serve_args(name, svc, PORT, ctx.options.prediction_log)
    out = container(
        ctx,
        "serve",
        image_for(ctx, name, svc.image),
        args=args,
        env=env_vars(ctx, svc.secrets),
        resources=container_resources(ctx, svc.resources),
    )
    out["ports"] = [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
    out["livenessProbe"] = _probe("/health", period=10, failures=3)
    out["readinessProbe"] = _probe("/ready", period=5, failures=2)
    out["startupProbe"] = _probe("/health", period=5, failures=60)  # model loading: up to 5 minutes
    return out


def _probe(path: str, period: int, failures: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def service_objects(ctx: Context, name: str, svc: Service) -> list[Obj]:
    lab = labels(ctx, name, "service")
    sel = selector(ctx, name)
    template = {"metadata": {"labels": lab}, "spec": pod_spec([serve_container(ctx, name, svc)])}
    deployment: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, lab),
        "spec": {
            "selector": {"matchLabels": sel},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "revisionHistoryLimit": 5,
            "template": template,
        },
    }
    if svc.autoscaling is None:  # with an autoscaler, replicas are its to set (Argo CD would fight it)
        deployment["spec"]["replicas"] = svc.replicas
    objects = [
        deployment,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(name, lab),
            "spec": {
                "selector": sel,
                "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta(name, lab),
            "spec": {"selector": {"matchLabels": sel}, "maxUnavailable": 1},
        },
        allow_ingress(ctx, name, lab, sel),
        service_monitor(ctx, name, lab, sel),
    ]
    if svc.autoscaling is not None:
        auto = svc.autoscaling
        objects.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": meta(name, lab),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": auto.min_replicas,
                    "maxReplicas": auto.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": auto.target_cpu},
                            },
                        }
                    ],
                },
            }
        )
    return objects


def allow_ingress(ctx: Context, name: str, lab: dict[str, str], sel: dict[str, str]) -> Obj:
    """Traffic to the service's port from the ingress controller's and Prometheus' namespaces only
    (everything else is denied by the namespace's default-deny policy)."""
    sources = sorted({ctx.options.ingress_namespace, ctx.options.prometheus_namespace})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(f"{name}-ingress", lab),
        "spec": {
            "podSelector": {"matchLabels": sel},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                        for ns in sources
                    ],
                    "ports": [{"port": PORT, "protocol": "TCP"}],
                }
            ],
        },
    }


def service_monitor(ctx: Context, name: str, lab: dict[str, str], sel: dict[str, str]) -> Obj:
    """Prometheus scrapes ``/metrics`` with a token (it is not open) from ``--metrics-secret``."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(name, lab),
        "spec": {
            "selector": {"matchLabels": sel},
            "endpoints": [
                {
                    "port": "http",
                    "path": "/metrics",
                    "interval": "30s",
                    "authorization": {
                        "type": "Bearer",
                        "credentials": {"name": ctx.options.metrics_secret, "key": "token"},
                    },
                }
            ],
        },
    }


# ---- a batch job ---------------------------------------------------------------------------------
def batch_objects(ctx: Context, name: str, job: BatchJob) -> list[Obj]:
    """A CronJob on the job's schedule; without one, a suspended CronJob to start by hand
    (``kubectl create job --from=cronjob/NAME NAME-1``): a Job's pod template cannot change, so a
    plain Job would block every later sync."""
    lab = labels(ctx, name, "batch")
    run = container(
        ctx,
        "batch",
        image_for(ctx, name, job.image),
        args=batch_args(job),
        env=env_vars(ctx, job.secrets),
        resources=container_resources(ctx, job.resources),
    )
    pod = pod_spec([run], restartPolicy="Never")
    spec: Obj = {
        "schedule": job.schedule or "0 0 1 1 *",
        "suspend": job.schedule is None,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": lab},
            "spec": {"backoffLimit": 2, "template": {"metadata": {"labels": lab}, "spec": pod}},
        },
    }
    return [{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(name, lab), "spec": spec}]
