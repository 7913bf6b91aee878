"""Names an MLflow import uses: its tags, the namespace of an experiment, the id of a run."""

from __future__ import annotations

import hashlib
import re

from shipyard.core.ids import looks_like_id
from shipyard.core.names import validate_name

TAG_PREFIX = "shipyard.import."
TAG_RUN = "shipyard.import.mlflow_run_id"
TAG_STATE = "shipyard.import.state"
TAG_SOURCE = "shipyard.import.source"
TAG_EXPERIMENT = "shipyard.import.mlflow_experiment"
TAG_EXPERIMENT_ID = "shipyard.import.mlflow_experiment_id"
TAG_VERSION = "shipyard.import.mlflow_version"
_NS_BAD = re.compile(r"[^A-Za-z0-9_\-. :@+=]")


def experiment_namespace(name: str, project: str | None) -> str:
    """``mlflow:NAME`` (``/`` as ``:``, other characters a namespace cannot hold as ``_``), or
    ``project:P`` for every experiment when a project is given."""
    if project is not None:
        return validate_name("namespace", f"project:{project}")
    text = _NS_BAD.sub("_", name.replace("/", ":")).strip(": ")
    text = re.sub(r":{2,}", ":", text) or "experiment"
    return validate_name("namespace", f"mlflow:{text}"[:250].rstrip(". "))


def target_run_id(source_run_id: str) -> str:
    """The shipyard id of an imported run: the MLflow id itself when it is 32 hex characters (so
    ``runs:/ID/...`` keeps working), else 32 hex characters derived from it."""
    text = source_run_id.lower()
    return text if looks_like_id(text) else hashlib.sha256(source_run_id.encode()).hexdigest()[:32]
