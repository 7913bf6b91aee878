"""The model-registry storage interface: registered models, versions, aliases, tags, lineage.

Writing a new backend
---------------------
Subclass :class:`RegistryStore`, implement every abstract method, teach :func:`open_registry_store`
to build it for your metadata backend, and add it to the ``registry_store`` fixture in
``tests/registry/conftest.py``: the registry storage tests run over every backend.

Rules every backend keeps:

- Version numbers are per model, start at 1, are assigned race-free (two concurrent registrations
  get two different numbers) and are never reused, even after a version is deleted.
- Registering a version creates its model when it does not exist yet; a new model's ``champion``
  alias is protected (see :data:`DEFAULT_PROTECTED_ALIASES`).
- A protected alias may only point at an approved version (:class:`ConflictError` otherwise), and a
  version that an alias points at cannot be deleted or un-approved while a protected alias does.
- Every alias change (set, move, delete, protect) appends an :class:`AliasEvent` (who, when, from, to).
- Model names, and each model's alias names, are unique by
  :func:`~shipyard.core.names.canonical_name`: creating a look-alike of an existing name (``Fraud``
  beside ``fraud``, ``Champion`` beside ``champion``) raises
  :class:`~shipyard.core.errors.AlreadyExistsError` naming the existing one. New names are
  validated with ``new=True`` (see :mod:`shipyard.core.names`).
- Every list method takes keyword-only ``limit``/``offset`` (one page of the list; ``limit=None``,
  the default, is all of it) in a total order, so consecutive pages never skip or repeat a row;
  a negative ``limit`` or ``offset`` raises :class:`~shipyard.core.errors.InvalidInputError`.
- A model may belong to a project (``RegisteredModel.project``; None: the server scope). It is set
  when the model is created (:meth:`RegistryStore.create_model`, or the first version's
  ``ModelVersionCreate.project``) and never changes; a later version's ``project`` is ignored.
  ``list_models(hidden_projects=...)`` leaves out the models of those projects.
- A rename (:meth:`RegistryStore.rename_model`) keeps everything of the model but its name; a
  new name is validated with ``new=True`` by the caller and must be free by canonical name.
- Lookups are exact. Unknown models, versions and aliases raise
  :class:`~shipyard.core.errors.NotFoundError` (which may suggest the look-alike: "did you mean").
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from shipyard.metadata.base import MetadataStore

#: aliases that are protected when a model is created (only approved versions may carry them)
DEFAULT_PROTECTED_ALIASES = ("champion",)


@dataclass(frozen=True)
class LineageRecord:
    """An artifact that fed a model version: ``depth`` 1 is a direct input of the source task,
    2 an input of the task that produced a depth-1 input, and so on."""

    artifact_id: str
    name: str
    digest: str
    run_id: str
    task_id: str | None
    serializer: str
    depth: int
    producer_step: str | None = None


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    created_by: str
    tags: dict[str, str] = field(default_factory=dict)
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version
    protected_aliases: tuple[str, ...] = ()
    project: str | None = None  # the project it belongs to; None: the server scope

    def _repr_html_(self) -> str:
        """A notebook's display (escaped HTML)."""
        from shipyard.core.reprs import registered_model_html

        return registered_model_html(self)


@dataclass(frozen=True)
class ModelVersionCreate:
    model_name: str
    package_digest: str
    package_size: int
    flavor: str
    created_by: str
    created_at: datetime
    run_id: str | None = None
    task_id: str | None = None
    artifact_id: str | None = None
    artifact_name: str | None = None
    signature: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    unsafe: bool = False
    lineage: tuple[LineageRecord, ...] = ()
    project: str | None = None  # the project of the model when this version creates it


@dataclass(frozen=True)
class ModelVersion:
    model_name: str
    version: int
    package_digest: str
    package_size: int
    flavor: str
    created_by: str
    created_at: datetime
    run_id: str | None
    task_id: str | None
    artifact_id: str | None
    artifact_name: str | None
    signature: dict[str, Any]
    description: str
    unsafe: bool
    approved: bool
    approved_by: str | None
    approved_at: datetime | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"

    def _repr_html_(self) -> str:
        """A notebook's display (escaped HTML)."""
        from shipyard.core.reprs import model_version_html

        return model_version_html(self)


@dataclass(frozen=True)
class AliasEvent:
    model_name: str
    alias: str
    action: str  # "set" | "delete" | "protect" | "unprotect"
    old_version: int | None
    new_version: int | None
    user: str
    at: datetime


class RegistryStore(abc.ABC):
    """Where registered models live; shares the metadata store's database."""

    #: True when a server behind the store checks that a version's package loads before it is
    #: approved or aliased (so a client need not download the package to check it too)
    server_checks_packages: ClassVar[bool] = False

    # ---- models ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_model(
        self,
        name: str,
        *,
        user: str,
        at: datetime,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> RegisteredModel:
        """A new registered model (of ``project`` when given); AlreadyExistsError when the name is taken."""

    @abc.abstractmethod
    def get_model(self, name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    def list_models(
        self,
        prefix: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        hidden_projects: Sequence[str] = (),
    ) -> list[RegisteredModel]:
        """Every registered model (name starting with ``prefix`` when given), by name; the models of
        ``hidden_projects`` are left out (before paging)."""

    @abc.abstractmethod
    def update_model(self, name: str, *, description: str, at: datetime) -> RegisteredModel: ...

    @abc.abstractmethod
    def set_model_tags(self, name: str, tags: Mapping[str, str], at: datetime) -> None: ...

    @abc.abstractmethod
    def rename_model(self, name: str, new_name: str, *, at: datetime) -> RegisteredModel:
        """Give a model a new name, keeping its versions (and their numbers, tags, approvals and
        lineage), tags, aliases and alias history, project and creator; ``models:/OLD/...`` no
        longer resolves. AlreadyExistsError when the name (or a look-alike) is taken."""

    @abc.abstractmethod
    def delete_model_tag(self, name: str, key: str, at: datetime) -> None:
        """Remove one tag of a model; NotFoundError when the model has no such tag."""

    @abc.abstractmethod
    def delete_model(self, name: str) -> None:
        """Delete a model with its versions, aliases and history (not the package blobs)."""

    # ---- versions --------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_version(self, create: ModelVersionCreate) -> ModelVersion:
        """Register the next version (creating the model if needed); see the module doc."""

    @abc.abstractmethod
    def get_version(self, name: str, version: int) -> ModelVersion: ...

    @abc.abstractmethod
    def list_versions(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[ModelVersion]:
        """Every version of a model, oldest first."""

    @abc.abstractmethod
    def delete_version(self, name: str, version: int) -> None:
        """Delete a version; ConflictError while an alias points at it."""

    @abc.abstractmethod
    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> ModelVersion: ...

    @abc.abstractmethod
    def delete_version_tag(self, name: str, version: int, key: str) -> ModelVersion: ...

    @abc.abstractmethod
    def set_approval(
        self, name: str, version: int, approved: bool, *, user: str, at: datetime
    ) -> ModelVersion:
        """Approve (or revoke approval of) a version."""

    # ---- aliases ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def set_alias(self, name: str, alias: str, version: int, *, user: str, at: datetime) -> AliasEvent:
        """Point ``alias`` at ``version`` (creating or moving it) and record the event."""

    @abc.abstractmethod
    def delete_alias(self, name: str, alias: str, *, user: str, at: datetime) -> AliasEvent: ...

    @abc.abstractmethod
    def protect_alias(self, name: str, alias: str, protected: bool, *, user: str, at: datetime) -> AliasEvent:
        """Mark an alias name protected (only approved versions) or not."""

    @abc.abstractmethod
    def resolve_alias(self, name: str, alias: str) -> ModelVersion: ...

    @abc.abstractmethod
    def alias_history(
        self, name: str, alias: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[AliasEvent]:
        """Alias events of a model (of one alias when given), oldest first."""

    # ---- lineage ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def version_lineage(
        self, name: str, version: int, *, limit: int | None = None, offset: int = 0
    ) -> list[LineageRecord]:
        """The artifacts that fed a version, nearest first (by depth, then name, then artifact id)."""

    @abc.abstractmethod
    def versions_from_artifact(
        self,
        *,
        artifact_id: str | None = None,
        digest: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ModelVersion]:
        """Versions whose lineage contains the artifact (by id, or by content digest), by model
        name then version."""

    @abc.abstractmethod
    def versions_from_run(
        self, run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[ModelVersion]:
        """Versions whose package came from ``run_id``, by model name then version."""


def open_registry_store(metadata: MetadataStore) -> RegistryStore:
    """The registry store that lives beside ``metadata`` (same database, same connections)."""
    from shipyard.metadata.registry import companion_store

    store: RegistryStore = companion_store(
        metadata,
        "the model registry",
        sql="shipyard.metadata.sql.model_registry_store:SqlRegistryStore",
        rest="shipyard.metadata.rest.registry:RestRegistryStore",
    )
    return store
