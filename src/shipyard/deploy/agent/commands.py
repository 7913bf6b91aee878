"""The commands the agent runs for a deployment (pure: no I/O).

A service runs ``shipyard serve`` on a loopback port the supervisor picks, with its model pinned to
the version the reference resolved to (so a restart after a crash serves what ran before, and an
alias that moves is a rollout), canary and shadow routes as ``--route``/``--shadow`` (versions of
the deployment's own model), ``--secret`` for its secrets, ``--features`` for its feature views and
``--no-auth`` only when its token policy says so (the router and the service listen on loopback).
A batch job runs ``shipyard batch``; a scheduled flow ``shipyard run``.

A plan's *fingerprint* is what a rollout compares: the command (its port left out) and the
environment's settings as written (a secret's reference, never its value). Replicas are not in it:
a changed count scales the running version.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shipyard.core.errors import InvalidInputError
from shipyard.deploy.spec.models import BatchJob, FlowSchedule, Service

CLI = ("-m", "shipyard.cli.main")


@dataclass(frozen=True)
class ServicePlan:
    """What one service deployment runs: ``argv(port)`` per replica."""

    name: str
    model: str  # the reference it serves, pinned to a version when resolved
    version: str  # e.g. fraud/2 (the reference when unresolved)
    replicas: int
    fingerprint: str
    secrets: tuple[str, ...] = ()  # read by `shipyard serve` itself (--secret)
    args: tuple[str, ...] = field(default=(), repr=False)  # everything but the port
    python: str = sys.executable

    def argv(self, port: int) -> list[str]:
        return [self.python, *CLI, "serve", *self.args, "--port", str(port)]


@dataclass(frozen=True)
class JobPlan:
    """A batch job or a scheduled flow: its command, cron (None: run once per fingerprint) and the
    secrets exposed to it as upper-cased environment variables."""

    key: str  # batch:NAME or flow:NAME
    argv: tuple[str, ...]
    schedule: str | None
    fingerprint: str
    secrets: tuple[str, ...] = ()


def fingerprint(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_name(ref: str) -> str:
    body = ref.removeprefix("models:/")
    return body.split("@", 1)[0].split("/", 1)[0]


def pinned(ref: str, versions: Mapping[str, int]) -> str:
    """``models:/fraud@champion`` -> ``models:/fraud/3`` when it resolved to 3."""
    version = versions.get(ref)
    return f"models:/{model_name(ref)}/{version}" if version is not None else ref


def _route_ref(ref: str, versions: Mapping[str, int]) -> str:
    """What ``--route``/``--shadow`` take: a version number or an alias of the served model."""
    if ref in versions:
        return str(versions[ref])
    body = ref.removeprefix("models:/")
    return body.split("@", 1)[1] if "@" in body else body.split("/", 1)[1]


def service_plan(
    name: str,
    dep: Service,
    versions: Mapping[str, int],
    settings: Mapping[str, str],
    *,
    trust_router: bool = False,
    python: str = sys.executable,
) -> ServicePlan:
    """The plan of service ``name``; InvalidInputError for what the local runtime cannot run.
    ``trust_router``: the service believes the router's ``X-Forwarded-For`` (when the router
    listens beyond loopback, so remote clients are told apart; on loopback every client is local
    and a local process could otherwise pick the address the service throttles on)."""
    served = model_name(dep.model)
    model = pinned(dep.model, versions)
    args: list[str] = [model, "--host", "127.0.0.1", "--deployment", name]
    canary = [r for r in dep.routes if r.mode == "canary"]
    shadow = [r for r in dep.routes if r.mode == "shadow"]
    for route in dep.routes:
        if model_name(route.model) != served:
            raise InvalidInputError(
                f"deployment {name!r}: route {route.model} is not a version of {served}; the local "
                f"runtime splits traffic between versions of the deployment's model"
            )
    if len(shadow) > 1:
        raise InvalidInputError(f"deployment {name!r}: the local runtime runs at most one shadow route")
    if canary:
        weights = [r.weight for r in canary]
        if any(w != int(w) for w in weights):
            raise InvalidInputError(
                f"deployment {name!r}: canary weights {weights} must be whole percents locally"
            )
        primary = 100 - int(sum(weights))
        args += ["--route", f"{_route_ref(dep.model, versions)}={primary}"]
        args += [a for r in canary for a in ("--route", f"{_route_ref(r.model, versions)}={int(r.weight)}")]
    if shadow:
        args += ["--shadow", _route_ref(shadow[0].model, versions)]
    args += [a for s in dep.secrets for a in ("--secret", s)]
    args += [a for f in dep.features for a in ("--features", f)]
    if not dep.tokens.required:
        if trust_router:
            raise InvalidInputError(
                f"deployment {name!r} takes requests without tokens (tokens.required: false), which "
                "the agent serves on loopback only; run the agent with --host 127.0.0.1 or require tokens"
            )
        args.append("--no-auth")
    if trust_router:  # the router's X-Forwarded-For names the client (throttled per address)
        args += ["--forwarded-allow-ips", "127.0.0.1"]
    replicas = dep.autoscaling.min_replicas if dep.autoscaling is not None else dep.replicas
    version = model.removeprefix("models:/")
    digest = fingerprint("service", args, dict(settings), python)
    return ServicePlan(name, model, version, replicas, digest, tuple(dep.secrets), tuple(args), python)


def batch_plan(
    name: str,
    dep: BatchJob,
    versions: Mapping[str, int],
    settings: Mapping[str, str],
    *,
    python: str = sys.executable,
) -> JobPlan:
    argv = (python, *CLI, "batch", pinned(dep.model, versions), dep.input, dep.output, "--quiet")
    digest = fingerprint("batch", argv[1:], dep.schedule, dict(settings), dep.secrets)
    return JobPlan(f"batch:{name}", argv, dep.schedule, digest, tuple(dep.secrets))


def flow_plan(
    name: str, flow: FlowSchedule, settings: Mapping[str, str], *, python: str = sys.executable
) -> JobPlan:
    argv: list[str] = [python, *CLI, "run", flow.file, "--quiet"]
    if flow.flow:
        argv += ["--flow", flow.flow]
    argv += [a for key, value in sorted(flow.params.items()) for a in ("--param", f"{key}={_param(value)}")]
    digest = fingerprint("flow", argv[1:], flow.schedule, dict(settings))
    return JobPlan(f"flow:{name}", tuple(argv), flow.schedule, digest)


def _param(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def child_environment(
    base: Mapping[str, str],
    *,
    project: str,
    environment: str,
    settings: Mapping[str, str],
    secret_values: Mapping[str, str],
    expose: Sequence[str] = (),
) -> dict[str, str]:
    """A child's environment: ``base`` (the agent's own, minus its per-process serving config),
    the project and environment it acts for, the environment's settings with each
    ``${secret:NAME}`` replaced by its value, and the secrets in ``expose`` as upper-cased
    variables. ``secret_values`` must hold every secret these read."""
    from shipyard.core.branches import split_slot
    from shipyard.deploy.spec.models import secret_refs

    dropped = ("SHIPYARD_SERVING_CONFIG", "SHIPYARD_BRANCH", "SHIPYARD_ROUTER_KEY")  # per process
    env = {k: v for k, v in base.items() if k not in dropped}
    env["SHIPYARD_PROJECT"] = project
    env["SHIPYARD_ENVIRONMENT"] = environment
    branch = split_slot(environment)[1]
    if branch is not None:  # a branch's slot: what its jobs and flows write stays on the branch
        env["SHIPYARD_BRANCH"] = branch
    for key, raw in settings.items():
        value = raw
        for ref in secret_refs(raw):
            value = value.replace(f"${{secret:{ref}}}", secret_values[ref])
        env[key] = value
    for name in expose:
        env[name.upper()] = secret_values[name]
    return env


def secrets_read(settings: Mapping[str, str], expose: Sequence[str] = ()) -> list[str]:
    """The secret names a child's environment needs."""
    from shipyard.deploy.spec.models import secret_refs

    names = [ref for value in settings.values() for ref in secret_refs(value)]
    return sorted({*names, *expose})
