"""What a plan needs to know beyond the spec and the applied state: what model references resolve
to, a version's approval and quality, its deployment's monitors, which secrets and feature views
exist, and who applies. :class:`Facts` is the protocol the planner asks; :class:`StoreFacts`
answers it from the stores (local database or a team server alike), each answer cached for the
plan's life, so 200 deployments naming one alias cost one lookup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from shipyard.core.errors import NotFoundError, ShipyardError

if TYPE_CHECKING:
    from shipyard.metadata.base import MetadataStore
    from shipyard.metadata.delivery import Applier, DeliveryStore
    from shipyard.metadata.features import FeatureRecords
    from shipyard.metadata.model_registry import RegistryStore
    from shipyard.metadata.monitoring import MonitoringRecords

_REF = re.compile(r"^models:/([^/@]+)(?:/([0-9]+)|@(.+))$")


@dataclass(frozen=True)
class ResolvedModel:
    ref: str  # as the spec says it: models:/fraud@candidate
    name: str
    version: int
    approved: bool
    run_id: str | None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def shown(self) -> str:
        """``fraud@candidate v7`` (or ``fraud v7`` for a numbered reference)."""
        alias = self.ref.partition("@")[2]
        return f"{self.name}@{alias} v{self.version}" if alias else f"{self.name} v{self.version}"


@dataclass(frozen=True)
class MonitorStatus:
    passing: bool | None  # None: unknown (no monitor, or none has results yet)
    reason: str


class Facts(Protocol):
    def resolve(self, ref: str) -> ResolvedModel:
        """The version ``ref`` names now; NotFoundError saying what does not exist."""

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric of a run ({} when the run is gone)."""

    def monitor_status(self, deployment: str) -> MonitorStatus: ...

    def present_secrets(self, project: str, environment: str, names: Sequence[str]) -> set[str]: ...

    def feature_view_exists(self, name: str) -> bool: ...

    def applier(self, project: str, environment: str) -> Applier: ...


@dataclass
class StoreFacts:
    """:class:`Facts` from the stores beside ``metadata``; ``user`` is who applies against a local
    database (a server answers for its token's principal). Answers are cached for the object's
    life: make one per plan (or per command), not one per process."""

    metadata: MetadataStore
    delivery: DeliveryStore
    user: str
    _registry: RegistryStore | None = field(default=None, repr=False)
    _monitoring: MonitoringRecords | None = field(default=None, repr=False)
    _features: FeatureRecords | None = field(default=None, repr=False)
    _models: dict[str, ResolvedModel | NotFoundError] = field(default_factory=dict, repr=False)
    _metrics: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    _monitors: dict[str, list[str]] | None = field(default=None, repr=False)
    _views: dict[str, bool] = field(default_factory=dict, repr=False)

    @property
    def registry(self) -> RegistryStore:
        if self._registry is None:
            from shipyard.metadata.model_registry import open_registry_store

            self._registry = open_registry_store(self.metadata)
        return self._registry

    def resolve(self, ref: str) -> ResolvedModel:
        if ref not in self._models:
            self._models[ref] = self._resolve(ref)
        found = self._models[ref]
        if isinstance(found, NotFoundError):
            raise found
        return found

    def _resolve(self, ref: str) -> ResolvedModel | NotFoundError:
        parsed = _REF.match(ref)
        if parsed is None:
            return NotFoundError(f"{ref!r} is not a model reference like models:/fraud@champion")
        name, number, alias = parsed.groups()
        try:
            if number is not None:
                version = self.registry.get_version(name, int(number))
            else:
                version = self.registry.resolve_alias(name, alias)
        except NotFoundError as exc:
            return NotFoundError(f"model reference {ref} does not resolve: {_first_line(exc)}")
        return ResolvedModel(ref, version.model_name, version.version, version.approved, version.run_id)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        if run_id not in self._metrics:
            try:
                self._metrics[run_id] = dict(self.metadata.get_run(run_id).metrics)
            except NotFoundError:
                self._metrics[run_id] = {}
        return self._metrics[run_id]

    def monitor_status(self, deployment: str) -> MonitorStatus:
        """Passing when at least one monitor watches the deployment, each has results and none has an
        open alert; failing when one has an open alert; unknown otherwise."""
        if self._monitoring is None:
            from shipyard.metadata.monitoring import open_monitoring_records

            self._monitoring = open_monitoring_records(self.metadata)
        records = self._monitoring
        if self._monitors is None:
            by_deployment: dict[str, list[str]] = {}
            for spec in records.list_monitors():
                by_deployment.setdefault(str(spec.get("deployment")), []).append(str(spec.get("name")))
            self._monitors = by_deployment
        names = sorted(self._monitors.get(deployment, []))
        if not names:
            return MonitorStatus(None, f"no monitor watches deployment {deployment!r}")
        for name in names:
            open_alerts = [a for a in records.alerts(name, limit=20) if a.resolved_at is None]
            if open_alerts:
                return MonitorStatus(False, f"monitor {name} has an open alert: {open_alerts[0].message}")
        for name in names:
            if not records.results(name, limit=1):
                return MonitorStatus(None, f"monitor {name} has no results yet")
        return MonitorStatus(True, f"{len(names)} monitor(s) passing")

    def present_secrets(self, project: str, environment: str, names: Sequence[str]) -> set[str]:
        return self.delivery.present_secrets(project, environment, names)

    def feature_view_exists(self, name: str) -> bool:
        if name not in self._views:
            if self._features is None:
                from shipyard.metadata.features import open_feature_records

                self._features = open_feature_records(self.metadata)
            try:
                self._features.get_view(name)
                self._views[name] = True
            except NotFoundError:
                self._views[name] = False
        return self._views[name]

    def applier(self, project: str, environment: str) -> Applier:
        return self.delivery.applier(project, environment, user=self.user)


def _first_line(exc: ShipyardError) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
