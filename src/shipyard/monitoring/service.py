"""Monitoring over the platform's stores: reference profiles of model versions and drift of a
deployment's prediction log against them.

Storing the reference (the training code calls it; registration needs no change)::

    with shipyard.start_run():
        ...
        shipyard.log_model(model, "fraud", register=True, input_example=X.head())
        shipyard.monitoring.log_reference(X_train, outputs=model.predict(X_train))

``log_reference`` logs the profile as the run's ``reference_profile`` artifact and, for every model
version already registered from that run, indexes it with the version; a version registered later
from the run finds it on first use. ``save_reference(stores, "models:/fraud/3", data)`` does the same
for any version and any data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.monitoring.drift import DriftReport, drift_report
from shipyard.monitoring.logs import FIXED, default_log_dir, read_log
from shipyard.monitoring.profile import Profile, build_profile
from shipyard.monitoring.store import PROFILE_ARTIFACT, MonitoringStore
from shipyard.monitoring.windows import Window

if TYPE_CHECKING:
    from shipyard.core.entities import ArtifactRecord
    from shipyard.metadata.model_registry import ModelVersion
    from shipyard.tracking.stores import Stores


def log_column(feature: str) -> str:
    """The prediction-log column of input ``feature`` (serving prefixes names that clash)."""
    return f"input_{feature}" if feature in FIXED or feature in ("prediction", "proba", "arm") else feature


def log_reference(data: Any, *, outputs: Any = None, **options: Any) -> Profile:
    """Profile ``data`` (the training features; ``outputs`` the model's predictions on it) and store
    it with the active run and every model version registered from it so far."""
    from shipyard.core.clock import utcnow
    from shipyard.core.entities import ArtifactRecord
    from shipyard.core.ids import new_id
    from shipyard.tracking.fluent import active_run

    run = active_run()
    if run is None:
        raise InvalidInputError(
            "log_reference needs an active run (inside shipyard.start_run() or a flow step)"
        )
    stores = run.client.stores
    profile = build_profile(data, outputs=outputs, **options)
    raw = profile.to_json()
    digest = stores.artifacts.put_bytes(raw)
    stores.metadata.record_artifact(
        ArtifactRecord(
            id=new_id(),
            run_id=run.id,
            name=PROFILE_ARTIFACT,
            digest=digest,
            size=len(raw),
            serializer="json",
            created_at=utcnow(),
            task_id=run.task_id,
            meta={"reference_profile": True, "rows": profile.rows},
        )
    )
    for version in _versions_of_run(stores, run.id):
        MonitoringStore(stores).save_profile(version.model_name, version.version, profile)
    return profile


def _versions_of_run(stores: Stores, run_id: str) -> list[ModelVersion]:
    from shipyard.registry.service import ModelRegistry

    registry = ModelRegistry(stores)
    out: list[ModelVersion] = []
    for model in registry.list_models():
        out.extend(v for v in registry.list_versions(model.name) if v.run_id == run_id)
    return out


def resolve_version(stores: Stores, uri: str) -> ModelVersion:
    from shipyard.registry.service import ModelRegistry

    return ModelRegistry(stores).resolve(uri if uri.startswith("models:/") else f"models:/{uri}")


def save_reference(
    stores: Stores, model_uri: str, data: Any, *, outputs: Any = None, **options: Any
) -> Profile:
    """Profile ``data`` and store it as the reference of the version ``model_uri`` names."""
    version = resolve_version(stores, model_uri)
    profile = build_profile(data, outputs=outputs, model=version.model_name, **options)
    MonitoringStore(stores).save_profile(version.model_name, version.version, profile)
    return profile


def reference_for(stores: Stores, model: str, version: int) -> Profile:
    from shipyard.registry.service import ModelRegistry

    run_id = None
    with contextlib.suppress(NotFoundError):
        run_id = ModelRegistry(stores).store.get_version(model, version).run_id
    return MonitoringStore(stores).load_profile(model, version, run_id)


@dataclass
class DeploymentDrift:
    deployment: str
    window: Window
    model: str | None
    version: int | None
    report: DriftReport | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "window": self.window.label(),
            "model": self.model,
            "version": self.version,
            "note": self.note,
            **(self.report.to_dict() if self.report else {"rows": 0}),
        }


def deployment_drift(
    stores: Stores,
    target: str,
    window: Window,
    *,
    log_dir: str | None = None,
    overrides: Mapping[str, tuple[str | None, float | None]] | None = None,
    features: Sequence[str] | None = None,
) -> DeploymentDrift:
    """Drift of ``target`` (a deployment name, or ``models:/NAME/VERSION`` whose deployment is the
    model name) in ``window`` against its version's reference profile."""
    log_dir = log_dir or default_log_dir()
    pinned: ModelVersion | None = None
    deployment = target
    if target.startswith("models:/"):
        pinned = resolve_version(stores, target)
        deployment = pinned.model_name
    table = read_log(log_dir, deployment, window)
    if not table.num_rows:
        return DeploymentDrift(
            deployment,
            window,
            pinned.model_name if pinned else None,
            pinned.version if pinned else None,
            None,
            "no data in this window",
        )
    frame = table.to_pandas()
    if pinned is not None:
        model, version = pinned.model_name, pinned.version
        frame = frame[(frame["model"] == model) & (frame["version"] == version)]
        if not len(frame):
            return DeploymentDrift(
                deployment,
                window,
                model,
                version,
                None,
                f"no data from {model} version {version} in this window",
            )
    else:
        counts = frame.groupby(["model", "version"]).size().sort_values(ascending=False)
        model, version = str(counts.index[0][0]), int(counts.index[0][1])
        frame = frame[(frame["model"] == model) & (frame["version"] == version)]
    profile = reference_for(stores, model, version)
    renamed = frame.rename(columns={log_column(f): f for f in profile.features if log_column(f) != f})
    report = drift_report(profile, renamed, overrides=overrides, features=features)
    return DeploymentDrift(deployment, window, model, version, report)


def drift_series(
    stores: Stores, deployment: str, start: datetime, end: datetime, every: Any, *, log_dir: str | None = None
) -> list[DeploymentDrift]:
    """Drift per ``every`` bucket of ``[start, end)`` (for charts)."""
    from shipyard.monitoring.windows import buckets

    out = []
    for lo, hi in buckets(start, end, every):
        try:
            out.append(deployment_drift(stores, deployment, Window(lo, hi), log_dir=log_dir))
        except InvalidInputError as exc:
            out.append(DeploymentDrift(deployment, Window(lo, hi), None, None, None, exc.message))
    return out


def artifact_is_profile(record: ArtifactRecord) -> bool:
    return record.name == PROFILE_ARTIFACT and bool(record.meta.get("reference_profile"))
