"""``@step(kubernetes={...})``: where a step's pods may run when a flow is exported to a Kubernetes
orchestrator (Argo Workflows). Ignored by local and Ray runs.

    @step(kubernetes={
        "node_selector": {"pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    })

``node_selector`` maps node label names to values; ``tolerations`` are Kubernetes tolerations with
their own field names (``key``, ``operator``, ``value``, ``effect``, ``tolerationSeconds``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.core.errors import FlowError

_FIELDS = {"node_selector", "tolerations"}
_TOLERATION_FIELDS = {"key", "operator", "value", "effect", "tolerationSeconds"}
_OPERATORS = {"Equal", "Exists"}
_EFFECTS = {"NoSchedule", "PreferNoSchedule", "NoExecute"}


def parse_kubernetes(step_name: str, value: Mapping[str, Any] | None) -> dict[str, Any]:
    """The validated options, normalized (empty: none given); FlowError naming what is wrong."""
    if not value:
        return {}
    where = f"step {step_name!r}: kubernetes"
    if not isinstance(value, Mapping):
        raise FlowError(f'{where} is a dict, e.g. kubernetes={{"node_selector": {{"pool": "gpu"}}}}')
    unknown = set(value) - _FIELDS
    if unknown:
        raise FlowError(f"{where} has unknown options {sorted(unknown)}; use node_selector, tolerations")
    out: dict[str, Any] = {}
    selector = value.get("node_selector") or {}
    if not isinstance(selector, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in selector.items()
    ):
        raise FlowError(f'{where} node_selector maps label names to string values, e.g. {{"pool": "gpu"}}')
    if selector:
        out["node_selector"] = dict(sorted(selector.items()))
    tolerations = value.get("tolerations") or []
    if isinstance(tolerations, Mapping | str) or not isinstance(tolerations, list | tuple):
        raise FlowError(f"{where} tolerations is a list of dicts")
    if tolerations:
        out["tolerations"] = [_toleration(where, t) for t in tolerations]
    return out


def _toleration(where: str, item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise FlowError(f"{where} tolerations is a list of dicts, got {item!r}")
    unknown = set(item) - _TOLERATION_FIELDS
    if unknown:
        raise FlowError(
            f"{where} toleration has unknown fields {sorted(unknown)}; "
            f"use {', '.join(sorted(_TOLERATION_FIELDS))}"
        )
    operator = item.get("operator", "Equal")
    if operator not in _OPERATORS:
        raise FlowError(f"{where} toleration operator {operator!r} is not Equal or Exists")
    effect = item.get("effect")
    if effect is not None and effect not in _EFFECTS:
        raise FlowError(f"{where} toleration effect {effect!r} is not one of {sorted(_EFFECTS)}")
    seconds = item.get("tolerationSeconds")
    if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0):
        raise FlowError(f"{where} tolerationSeconds must be a whole number of seconds >= 0")
    for name in ("key", "value"):
        if name in item and not isinstance(item[name], str):
            raise FlowError(f"{where} toleration {name} must be a string")
    if operator == "Exists" and item.get("value"):
        raise FlowError(f"{where} a toleration with operator Exists takes no value")
    return {k: item[k] for k in sorted(item)}
