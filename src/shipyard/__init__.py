"""shipyard: flows, experiment tracking and artifacts in one MLOps platform.

``import shipyard`` is cheap: the public names below are resolved lazily, on first access, from the
modules that define them (see ``_EXPORTS``). Nothing is opened or configured at import time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_FLUENT = "shipyard.tracking.fluent"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # tracking: writing
    "start_run": _FLUENT,
    "end_run": _FLUENT,
    "active_run": _FLUENT,
    "use_run": _FLUENT,
    "log_param": _FLUENT,
    "log_params": _FLUENT,
    "log_metric": _FLUENT,
    "log_metrics": _FLUENT,
    "set_tag": _FLUENT,
    "set_tags": _FLUENT,
    "log_artifact": _FLUENT,
    "flush": _FLUENT,
    # tracking: reading
    "namespace": _FLUENT,
    "get_namespace": _FLUENT,
    "get_run": _FLUENT,
    "delete_run": _FLUENT,
    "search_runs": _FLUENT,
    "get_metric_history": _FLUENT,
    "load_artifact": _FLUENT,
    "list_artifacts": _FLUENT,
    # services and stores, for explicit use
    "TrackingClient": "shipyard.tracking.client",
    "ActiveRun": "shipyard.tracking.run",
    "Stores": "shipyard.tracking.stores",
    "open_stores": "shipyard.tracking.stores",
    "Settings": "shipyard.core.settings",
    "load_settings": "shipyard.core.settings",
    # entities and errors
    "Run": "shipyard.core.entities",
    "RunStatus": "shipyard.core.entities",
    "Metric": "shipyard.core.entities",
    "ArtifactRecord": "shipyard.core.entities",
    "Task": "shipyard.core.entities",
    "TaskStatus": "shipyard.core.entities",
    "ShipyardError": "shipyard.core.errors",
    "InvalidInputError": "shipyard.core.errors",
    "NotFoundError": "shipyard.core.errors",
    "ConflictError": "shipyard.core.errors",
    # flows
    "flow": "shipyard.flows",
    "step": "shipyard.flows",
    "on_dataset": "shipyard.flows",
    "on_model": "shipyard.flows",
    "on_model_version": "shipyard.flows",
    # models
    "log_model": "shipyard.registry.api",
    "load_model": "shipyard.registry.api",
    "register_model": "shipyard.registry.api",
    # datasets
    "log_dataset": "shipyard.data.api",
    "load_dataset": "shipyard.data.api",
    # monitoring
    "log_labels": "shipyard.monitoring.logs",
    "log_outcome": "shipyard.experiments.outcomes",
    "log_reference": "shipyard.monitoring.service",
    # features
    "Entity": "shipyard.features.views",
    "FeatureView": "shipyard.features.views",
    "FileSource": "shipyard.features.views",
    "feature_view": "shipyard.features.views",
    "FeatureStore": "shipyard.features.store",
    # cards: a step's report (shipyard.card), and cards built anywhere
    "card": "shipyard.cards.current",
    "Card": "shipyard.cards.model",
}

#: public submodules, imported on first access (``shipyard.notebook.show(run)``)
_SUBMODULES = frozenset({"notebook"})

__all__ = [
    "ActiveRun",
    "ArtifactRecord",
    "Card",
    "ConflictError",
    "Entity",
    "FeatureStore",
    "FeatureView",
    "FileSource",
    "InvalidInputError",
    "Metric",
    "NotFoundError",
    "Run",
    "RunStatus",
    "Settings",
    "ShipyardError",
    "Stores",
    "Task",
    "TaskStatus",
    "TrackingClient",
    "__version__",
    "active_run",
    "card",
    "delete_run",
    "end_run",
    "feature_view",
    "flow",
    "flush",
    "get_metric_history",
    "get_namespace",
    "get_run",
    "list_artifacts",
    "load_artifact",
    "load_dataset",
    "load_model",
    "load_settings",
    "log_artifact",
    "log_dataset",
    "log_labels",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_outcome",
    "log_param",
    "log_params",
    "log_reference",
    "namespace",
    "notebook",
    "on_dataset",
    "on_model",
    "on_model_version",
    "open_stores",
    "register_model",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "use_run",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"shipyard.{name}")  # the import sets the attribute
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static view of the lazy names, for type checkers and IDEs
    from shipyard import notebook
    from shipyard.cards.current import card
    from shipyard.cards.model import Card
    from shipyard.core.entities import ArtifactRecord, Metric, Run, RunStatus, Task, TaskStatus
    from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError, ShipyardError
    from shipyard.core.settings import Settings, load_settings
    from shipyard.data.api import load_dataset, log_dataset
    from shipyard.experiments.outcomes import log_outcome
    from shipyard.features.store import FeatureStore
    from shipyard.features.views import Entity, FeatureView, FileSource, feature_view
    from shipyard.flows import flow, on_dataset, on_model, on_model_version, step
    from shipyard.monitoring.logs import log_labels
    from shipyard.monitoring.service import log_reference
    from shipyard.registry.api import load_model, log_model, register_model
    from shipyard.tracking.client import TrackingClient
    from shipyard.tracking.fluent import (
        active_run,
        delete_run,
        end_run,
        flush,
        get_metric_history,
        get_namespace,
        get_run,
        list_artifacts,
        load_artifact,
        log_artifact,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        namespace,
        search_runs,
        set_tag,
        set_tags,
        start_run,
        use_run,
    )
    from shipyard.tracking.run import ActiveRun
    from shipyard.tracking.stores import Stores, open_stores
