"""What the agent is told to run: one environment's desired deployments and scheduled flows.

The agent reconciles against a :class:`DesiredState` provider and never reads where the state
comes from itself, so the same reconcile logic runs from a spec file (:class:`SpecFileState`,
``shipyard agent -f shipyard.yaml``) or from the releases that ``shipyard apply`` records.

Writing a provider
------------------
Implement ``desired(environment) -> DesiredEnvironment``: the project's name, the environment's
settings (environment variables; a value may read a secret as ``${secret:NAME}``), each
deployment by name (a :class:`~shipyard.deploy.spec.models.Service` or
:class:`~shipyard.deploy.spec.models.BatchJob` as the environment sees it, after its overrides)
with the model version its reference resolved to when the provider knows it, and the flows to
schedule. Raise a :class:`~shipyard.core.errors.ShipyardError` when the state cannot be read: the
agent then keeps running what it runs and reports the error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from shipyard.deploy.spec.models import BatchJob, FlowSchedule, Service
from shipyard.experiments.config import ExperimentSpec

if TYPE_CHECKING:
    from shipyard.metadata.base import MetadataStore
    from shipyard.metadata.delivery import DeliveryStore

#: ``models:/NAME@ALIAS`` or ``models:/NAME/N`` -> the version number it names now (None: unknown).
Resolver = Callable[[str], int | None]


@dataclass(frozen=True)
class DesiredDeployment:
    """One deployment: its spec in the environment, and the versions its model references resolved
    to (reference -> version; a reference missing here is resolved when the agent launches it)."""

    name: str
    spec: Service | BatchJob
    versions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DesiredEnvironment:
    project: str
    environment: str
    deployments: Mapping[str, DesiredDeployment]
    flows: Mapping[str, FlowSchedule] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    namespace: str | None = None  # the environment's metadata namespace
    root: Path | None = None  # the project's folder: flow files and relative paths are inside it
    source: str = ""  # where it came from, for the status (a file, a release)
    experiments: Mapping[str, ExperimentSpec] = field(default_factory=dict)  # in this environment


class DesiredState(Protocol):
    def desired(self, environment: str) -> DesiredEnvironment:
        """The environment's desired state now (ShipyardError when it cannot be read)."""
        ...


@runtime_checkable
class WatchedState(DesiredState, Protocol):
    """A desired state that tells cheaply when it changed: ``revision`` is any value that differs
    after a change (a release number, a file's modification time). The agent asks every
    ``wake_check_s`` and reconciles at once when it moved, instead of at its interval."""

    def revision(self, environment: str) -> object:
        """A token that changes when ``desired(environment)`` may answer something else."""
        ...


class SpecFileState:
    """The desired state a ``shipyard.yaml`` declares, read again at each reconcile (so an edited
    file, or a ``git pull``, is picked up on the next interval or SIGHUP). ``resolve`` pins alias
    references to versions (the registry's answer now), so a crashed process restarts on the version
    it ran, and an alias that moves rolls the deployment out."""

    def __init__(self, path: Path, resolve: Resolver | None = None) -> None:
        self.path = path
        self._resolve = resolve

    def desired(self, environment: str) -> DesiredEnvironment:
        from shipyard.core.errors import InvalidInputError
        from shipyard.deploy.spec.load import load_spec
        from shipyard.deploy.spec.rules import for_environment

        spec = load_spec(self.path)
        if environment not in spec.environments:
            known = ", ".join(spec.environments)
            raise InvalidInputError(f"{self.path.name} has no environment {environment!r}; known: {known}")
        view = for_environment(spec, environment)
        deployments = {
            name: DesiredDeployment(name, dep, self._versions(dep)) for name, dep in view.deployments.items()
        }
        return DesiredEnvironment(
            project=spec.project.name,
            environment=environment,
            deployments=deployments,
            flows={name: fl for name, fl in view.flows.items() if fl.schedule},
            settings=dict(view.environments[environment].settings),
            namespace=view.environments[environment].namespace,
            root=self.path.resolve().parent,
            source=str(self.path),
            experiments=dict(view.experiments),
        )

    def revision(self, environment: str) -> object:
        """The file's modification time and size (None while it is missing): a save wakes the agent."""
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _versions(self, dep: Service | BatchJob) -> dict[str, int]:
        if self._resolve is None:
            return {}
        refs = [dep.model, *(r.model for r in dep.routes)] if isinstance(dep, Service) else [dep.model]
        out: dict[str, int] = {}
        for ref in refs:
            version = self._resolve(ref)
            if version is not None:
                out[ref] = version
        return out


class AppliedState:
    """The desired state ``shipyard apply`` (or ``sync``) recorded for the environment in the
    metadata store (:class:`~shipyard.metadata.delivery.DeliveryStore`): what apply declares is what
    the agent runs, through the team server too. Each deployment runs the model version its release
    resolved (``models:/NAME/N``), so an alias that moves after an apply changes nothing until the
    next apply; flow files are looked up under ``root``."""

    def __init__(self, delivery: DeliveryStore, project: str, root: Path | None = None) -> None:
        self._delivery = delivery
        self.project = project
        self.root = root

    def revision(self, environment: str) -> object:
        """The newest finished release and its outcome: an apply, a sync's release or a rollback
        changes it once it is recorded (a release still applying is not yet: its actuator may
        restore objects). Two indexed rows from the database, or one small request to the server."""
        newest = self._delivery.list_releases(self.project, environment, limit=2)
        done = [r for r in newest if r.outcome != "applying"]
        return (done[0].number, done[0].outcome) if done else None

    def desired(self, environment: str) -> DesiredEnvironment:
        from shipyard.core.errors import InvalidInputError
        from shipyard.deploy.spec.models import Environment

        objects = self._delivery.desired(self.project, environment)
        if not objects and self._delivery.list_releases(self.project, environment, limit=1):
            # applied, then emptied (a deleted branch's slot, a spec with nothing left): stop everything
            return DesiredEnvironment(
                self.project, environment, {}, root=self.root, source=f"{self.project}/{environment}: empty"
            )
        if not objects:
            raise InvalidInputError(
                f"environment {environment!r} of project {self.project!r} has nothing applied; "
                f"run `shipyard apply -e {environment}` first"
            )
        env = Environment()
        deployments: dict[str, DesiredDeployment] = {}
        flows: dict[str, FlowSchedule] = {}
        experiments: dict[str, ExperimentSpec] = {}
        for obj in objects:
            if obj.kind == "environment":
                env = Environment.model_validate(obj.spec)
            elif obj.kind in ("service", "batch"):
                dep: Service | BatchJob = (
                    Service.model_validate(obj.spec)
                    if obj.kind == "service"
                    else BatchJob.model_validate(obj.spec)
                )
                if obj.model_version:  # on the model the release resolved (a branch's own, in its slot)
                    dep = _on_model(dep, obj.model_version)
                versions = {dep.model: _version_of(obj.model_version)} if obj.model_version else {}
                deployments[obj.name] = DesiredDeployment(obj.name, dep, versions)
            elif obj.kind == "flow":
                flow = FlowSchedule.model_validate(obj.spec)
                if flow.schedule:
                    flows[obj.name] = flow
            elif obj.kind == "experiment":  # its status too: a stopped one gives the challenger nothing
                experiments[obj.name] = ExperimentSpec.model_validate(obj.spec)
        release = max(o.release for o in objects)
        return DesiredEnvironment(
            project=self.project,
            environment=environment,
            deployments=deployments,
            flows=flows,
            settings=dict(env.settings),
            namespace=env.namespace,
            root=self.root,
            source=f"release {release} of {self.project}/{environment}",
            experiments=experiments,
        )


def _on_model(dep: Service | BatchJob, resolved: str) -> Service | BatchJob:
    """``dep`` naming the model its release resolved to: ``models:/fraud@candidate`` resolved in
    a branch's slot to ``models:/fraud:branch:B/1`` becomes ``models:/fraud:branch:B@candidate``."""
    name = resolved.removeprefix("models:/").rsplit("/", 1)[0]
    body = dep.model.removeprefix("models:/")
    cut = min((i for i in (body.find("/"), body.find("@")) if i >= 0), default=len(body))
    if body[:cut] == name:
        return dep
    return dep.model_copy(update={"model": f"models:/{name}{body[cut:]}"})


def _version_of(uri: str) -> int:
    """``models:/fraud/3`` -> 3 (what a release records for a deployment's model)."""
    from shipyard.core.errors import InvalidInputError

    number = uri.rsplit("/", 1)[-1]
    if not number.isdigit():
        raise InvalidInputError(f"the release records model {uri!r}, not a version like models:/NAME/3")
    return int(number)


def registry_resolver(metadata: MetadataStore) -> Resolver:
    """A :data:`Resolver` over the model registry beside ``metadata`` (a MetadataStore); an alias
    or model that does not exist resolves to None (the launch then reports it)."""
    from shipyard.core.errors import ShipyardError
    from shipyard.metadata.model_registry import open_registry_store

    registry = open_registry_store(metadata)

    def resolve(ref: str) -> int | None:
        body = ref.removeprefix("models:/")
        name, at, alias = body.partition("@")
        if not at:
            name, _, number = body.partition("/")
            return int(number) if number.isdigit() else None
        try:
            return registry.resolve_alias(name, alias).version
        except ShipyardError:
            return None

    return resolve
