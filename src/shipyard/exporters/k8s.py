"""Kubernetes pieces of an exported workflow: names, resource quantities, environment, placement.

Kept apart from the workflow's shape (:mod:`shipyard.exporters.argo`) so that any exporter writing
pods (an Airflow KubernetesPodOperator too) maps a step's options the same way.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shipyard.core.errors import FlowError

NAME_MAX = 63  # a Kubernetes label value; Argo's template and task names allow 128
_NOT_NAME = re.compile(r"[^a-z0-9-]+")
_RESOURCE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def dns_label(text: str, max_len: int = NAME_MAX, *, hashed: bool = False) -> str:
    """``text`` as a lower-case DNS label (``a-z0-9-``, alphanumeric at both ends); too long (or
    ``hashed``), it ends with a short hash of ``text`` so that it stays distinct."""
    label = _NOT_NAME.sub("-", text.lower()).strip("-") or "x"
    if hashed or len(label) > max_len:
        digest = hashlib.sha256(text.encode()).hexdigest()[:6]
        label = f"{label[: max_len - 7].rstrip('-')}-{digest}"
    return label


def labels_for(names: Iterable[str], max_len: int = NAME_MAX) -> dict[str, str]:
    """A distinct DNS label per name, in order (``sum_squares`` -> ``sum-squares``; a later name
    whose label is taken, ``sum.squares``, gets a hash: ``sum-squares-1a2b3c``)."""
    out: dict[str, str] = {}
    for name in names:
        label = dns_label(name, max_len)
        if label in out.values():
            label = dns_label(name, max_len, hashed=True)
        out[name] = label
    return out


def check_resource_name(value: str, what: str) -> str:
    """A Kubernetes object name (a Secret, a ConfigMap, a namespace...); one-line error otherwise."""
    if not value or len(value) > 253 or not _RESOURCE_NAME.fullmatch(value):
        raise FlowError(
            f"{what} {value!r} is not a Kubernetes name: lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return value


def resources(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """A container's ``resources`` from a step's (``cpu``, ``memory_mb``, ``gpu``; 0: not declared).

    CPU and memory are requested (the scheduler places the pod by them); memory and GPUs are also
    limits (memory beyond the request is killed, not throttled; a GPU is only ever a limit). CPU has
    no limit, so a step is never throttled below what the node has spare."""
    spec = spec or {}
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    cpu = float(spec.get("cpu") or 0)
    memory = int(spec.get("memory_mb") or 0)
    gpu = int(spec.get("gpu") or 0)
    if cpu > 0:
        requests["cpu"] = str(int(cpu)) if cpu.is_integer() else f"{math.ceil(cpu * 1000)}m"
    if memory > 0:
        requests["memory"] = limits["memory"] = f"{memory}Mi"
    if gpu > 0:
        limits["nvidia.com/gpu"] = str(gpu)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def env_from(secret: str | None, config_map: str | None) -> list[dict[str, Any]]:
    """Every variable of the store configuration's Secret and ConfigMap (``SHIPYARD_URI``,
    ``SHIPYARD_ARTIFACTS``, ``SHIPYARD_TOKEN``, ``AWS_*``...) as the container's environment."""
    out: list[dict[str, Any]] = []
    if config_map:
        out.append({"configMapRef": {"name": config_map}})
    if secret:
        out.append({"secretRef": {"name": secret}})
    return out


def secret_env(names: Sequence[str], secret: str) -> list[dict[str, Any]]:
    """A step's declared secrets: ``DB_PASSWORD`` from key ``db_password`` of the Kubernetes Secret
    ``secret``, and ``SHIPYARD_STEP_SECRETS=env`` so the task reads them there, not from a store."""
    if not names:
        return []
    env: list[dict[str, Any]] = [{"name": "SHIPYARD_STEP_SECRETS", "value": "env"}]
    for name in names:
        env.append({"name": name.upper(), "valueFrom": {"secretKeyRef": {"name": secret, "key": name}}})
    return env


def placement(kubernetes: Mapping[str, Any] | None) -> dict[str, Any]:
    """``nodeSelector`` and ``tolerations`` of a template from a step's ``kubernetes`` option."""
    kubernetes = kubernetes or {}
    out: dict[str, Any] = {}
    if kubernetes.get("node_selector"):
        out["nodeSelector"] = dict(kubernetes["node_selector"])
    if kubernetes.get("tolerations"):
        out["tolerations"] = [_toleration(t) for t in kubernetes["tolerations"]]
    return out


def _toleration(item: Mapping[str, Any]) -> dict[str, Any]:
    # the schema's tolerationSeconds is an integer; every other field a string
    return {k: (int(v) if k == "tolerationSeconds" else str(v)) for k, v in item.items()}
