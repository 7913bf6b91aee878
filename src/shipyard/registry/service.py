"""``ModelRegistry``: the registry's domain service over one :class:`Stores`.

It logs model packages to runs, registers them as versions (with lineage), resolves model URIs,
loads packages (verified) and manages aliases, approval and tags. The SDK functions in
:mod:`shipyard.registry.api` and the ``shipyard models`` CLI are thin layers over it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from shipyard.core.branches import branch_object_name, branch_of_name, check_branch_name_write
from shipyard.core.clock import utcnow
from shipyard.core.entities import ArtifactRecord
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.core.names import validate_key
from shipyard.metadata.branches import note_branch
from shipyard.metadata.model_registry import (
    AliasEvent,
    ModelVersion,
    ModelVersionCreate,
    RegisteredModel,
    RegistryStore,
    open_registry_store,
)
from shipyard.registry.lineage import collect_lineage
from shipyard.registry.package import files_from_tar, write_package
from shipyard.registry.predictor import LoadedModel, load_package, package_label
from shipyard.registry.signature import Signature
from shipyard.registry.uri import (
    ModelRef,
    parse_model_uri,
    validate_alias,
    validate_model_name,
)
from shipyard.security.policy import check_project_name
from shipyard.tracking.client import TrackingClient, validate_tags
from shipyard.tracking.stores import Stores

#: ``ArtifactRecord.meta`` key that marks a model package
PACKAGE_MARK = "model_package"
_RAM_DISK = Path("/dev/shm")  # noqa: S108 - TemporaryDirectory makes a private 0700 folder in it


def _scratch_dirs() -> list[str | None]:
    """Where a package is assembled before it is stored: a RAM disk when there is one (writing and
    removing the few files there is measurably faster), then the regular temp folder."""
    if _RAM_DISK.is_dir() and os.access(_RAM_DISK, os.W_OK | os.X_OK):
        return [str(_RAM_DISK), None]
    return [None]


class ModelRegistry:
    def __init__(self, stores: Stores, registry: RegistryStore | None = None) -> None:
        self.stores = stores
        self.client = TrackingClient(stores)
        self.store = registry if registry is not None else open_registry_store(stores.metadata)
        self.user = stores.settings.user

    # ---- packages --------------------------------------------------------------------------------
    def log_model(
        self,
        run_id: str,
        model: Any,
        name: str = "model",
        *,
        task_id: str | None = None,
        input_example: Any = None,
        signature: Signature | Mapping[str, Any] | None = None,
        flavor: str | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> ArtifactRecord:
        """Write ``model`` as a package and record it as artifact ``name`` of the run (and task)."""
        validate_key("artifact", name)
        source = {"run_id": run_id, "task_id": task_id, "artifact": name}
        for scratch in _scratch_dirs():
            try:
                with tempfile.TemporaryDirectory(prefix="shipyard-model-", dir=scratch) as tmp:
                    folder = Path(tmp) / name.replace("/", "_")
                    manifest = write_package(
                        folder,
                        model,
                        input_example=input_example,
                        signature=signature,
                        flavor=flavor,
                        init_kwargs=init_kwargs,
                        source=source,
                    )
                    stored = self.stores.artifacts.put_path(folder)
                break
            except OSError as exc:
                if exc.errno != errno.ENOSPC or scratch is None:
                    raise  # a full RAM disk falls back to the regular temp folder
        meta = dict(stored.meta)
        meta.update(
            {
                PACKAGE_MARK: True,
                "flavor": manifest["flavor"],
                "package_format": manifest["format"],
                "signature": manifest["signature"],
            }
        )
        record = stored.record(run_id, name, task_id=task_id, meta=meta, unsafe=bool(manifest["unsafe"]))
        return self.stores.metadata.record_artifact(record)

    def find_package(self, run_id: str, artifact: str) -> ArtifactRecord:
        """The model-package artifact ``artifact`` of a run (run-level, or logged by one task)."""
        full_id = self.client.resolve_run_id(run_id)
        validate_key("artifact", artifact)
        matches = [a for a in self.stores.metadata.list_artifacts(full_id) if a.name == artifact]
        if not matches:
            raise NotFoundError(
                f"run {full_id} has no artifact {artifact!r}; "
                f"`shipyard artifacts list {full_id[:12]}` shows them"
            )
        run_level = [a for a in matches if a.task_id is None]
        if len(matches) > 1 and not run_level:
            tasks = ", ".join(sorted(str(a.task_id) for a in matches))
            raise InvalidInputError(
                f"run {full_id} has several artifacts named {artifact!r} (tasks {tasks}); "
                "log them under distinct names"
            )
        record = run_level[0] if run_level else matches[0]
        if not record.meta.get(PACKAGE_MARK) or record.serializer != "dir":
            raise InvalidInputError(
                f"artifact {artifact!r} of run {full_id} is not a model package ({record.serializer}); "
                "log models with shipyard.log_model(...)"
            )
        return record

    def load_record(
        self,
        record: ArtifactRecord,
        *,
        allow_unsafe: bool = False,
        trusted: Sequence[str] = (),
        uri: str | None = None,
        version: ModelVersion | None = None,
        native: bool | None = None,
    ) -> LoadedModel:
        label = package_label(
            uri or record.name,
            version.model_name if version is not None else None,
            version.version if version is not None else None,
            record.digest,
        )
        if record.serializer != "dir":
            raise InvalidInputError(f"{label} is not a model package ({record.serializer} artifact)")
        data = self.stores.artifacts.get_bytes(record.digest, label)  # sha256-verified
        limits = self.stores.artifacts.limits
        return load_package(
            files_from_tar(data, label, limits),
            allow_unsafe=allow_unsafe,
            trusted=trusted,
            digest=record.digest,
            uri=uri,
            version=version.version if version is not None else None,
            model_name=version.model_name if version is not None else None,
            limits=limits,
            native=native,
        )

    def load(
        self, uri: str, *, allow_unsafe: bool = False, trusted: Sequence[str] = (), native: bool | None = None
    ) -> LoadedModel:
        """Load ``models:/...`` or ``runs:/...`` (see :mod:`shipyard.registry.uri`), verified."""
        ref = parse_model_uri(uri)
        if ref.run_id is not None:
            assert ref.artifact is not None
            record = self.find_package(ref.run_id, ref.artifact)
            return self.load_record(
                record, allow_unsafe=allow_unsafe, trusted=trusted, uri=uri, native=native
            )
        version = self.resolve(ref)
        record = self._version_record(version)
        return self.load_record(
            record, allow_unsafe=allow_unsafe, trusted=trusted, uri=uri, version=version, native=native
        )

    def _version_record(self, version: ModelVersion) -> ArtifactRecord:
        """The version's package as an artifact record (the version row holds all that is needed)."""
        return ArtifactRecord(
            id=version.artifact_id or "",
            run_id=version.run_id or "",
            name=version.uri,
            digest=version.package_digest,
            size=version.package_size,
            serializer="dir",
            created_at=version.created_at,
            unsafe=version.unsafe,
            meta={PACKAGE_MARK: True},
        )

    # ---- versions --------------------------------------------------------------------------------
    def register(
        self,
        run_id: str,
        artifact: str,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        project: str | None = None,
    ) -> ModelVersion:
        """Register the package ``artifact`` of run ``run_id`` as the next version of model ``name``."""
        record = self.find_package(run_id, artifact)
        return self.register_record(record, name, description=description, tags=tags, project=project)

    def register_record(
        self,
        record: ArtifactRecord,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        project: str | None = None,
    ) -> ModelVersion:
        """Register a model-package artifact record as the next version of model ``name``. A model
        that does not exist yet is created in ``project`` (default: ``Settings.project``, i.e.
        ``SHIPYARD_PROJECT``; neither: the server scope); an existing model keeps its project."""
        name = self._write_name(validate_model_name(name))  # a new model's name is checked where created
        owner = self.new_model_project(project)
        if not record.meta.get(PACKAGE_MARK):
            raise InvalidInputError(f"artifact {record.name!r} is not a model package; log it with log_model")
        create = ModelVersionCreate(
            model_name=name,
            package_digest=record.digest,
            package_size=record.size,
            flavor=str(record.meta.get("flavor", "unknown")),
            created_by=self.user,
            created_at=utcnow(),
            run_id=record.run_id,
            task_id=record.task_id,
            artifact_id=record.id,
            artifact_name=record.name,
            signature=dict(record.meta.get("signature") or {}),
            description=description,
            tags=validate_tags(tags or {}),
            unsafe=record.unsafe,
            lineage=tuple(collect_lineage(self.stores.metadata, record.task_id)),
            project=owner,
        )
        note_branch(self.stores.metadata, self.stores.settings)
        return self.store.create_version(create)

    def new_model_project(self, project: str | None = None) -> str | None:
        """The project a new model goes into: ``project``, else ``Settings.project``, checked."""
        settings = self.stores.settings
        if settings.branch is not None and project is not None and project != settings.project:
            raise InvalidInputError(
                f"on branch {settings.branch!r} of project {settings.project!r} a model cannot go into "
                f"project {project!r}; leave out project"
            )
        chosen = project if project is not None else settings.project
        return None if chosen is None else check_project_name(chosen)

    def _write_name(self, name: str) -> str:
        """The stored name a write of model ``name`` goes to: ``NAME:branch:B`` on a branch."""
        return check_branch_name_write(self.stores.settings, name, "model")

    def branch_first(self, ref: ModelRef) -> ModelRef:
        """On a branch, ``ref`` moved to the branch's model when the branch has one (else it reads
        production's, which a branch may do); unchanged off a branch."""
        branch = self.stores.settings.branch
        if branch is None or ref.name is None or branch_of_name(ref.name) is not None:
            return ref
        own = branch_object_name(ref.name, branch)
        try:
            self.store.get_model(own)
        except NotFoundError:
            return ref
        return replace(ref, name=own)

    def create_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        project: str | None = None,
    ) -> RegisteredModel:
        """A new registered model with no versions, in ``project`` (default: ``Settings.project``)."""
        return self.store.create_model(
            self._write_name(validate_model_name(name, new=True)),
            user=self.user,
            at=utcnow(),
            description=description,
            tags=validate_tags(tags or {}),
            project=self.new_model_project(project),
        )

    def resolve(self, ref: ModelRef | str) -> ModelVersion:
        """The version a ``models:/`` reference names."""
        if isinstance(ref, str):
            ref = parse_model_uri(ref)
        if ref.name is None:
            raise InvalidInputError(f"{ref} names a run's package, not a registered model version")
        if ref.alias is not None:
            return self.store.resolve_alias(ref.name, ref.alias)
        if ref.version is not None:
            return self.store.get_version(ref.name, ref.version)
        latest = self.store.get_model(ref.name).latest_version
        if latest is None:
            raise NotFoundError(f"model {ref.name!r} has no versions yet")
        return self.store.get_version(ref.name, latest)

    def get_model(self, name: str) -> RegisteredModel:
        return self.store.get_model(validate_model_name(name))

    def list_models(self) -> list[RegisteredModel]:
        return self.store.list_models()

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self.store.list_versions(validate_model_name(name))

    def set_alias(self, name: str, alias: str, version: int) -> AliasEvent:
        """Point ``alias`` at ``version``; refused (ConflictError) when its package does not load
        (:mod:`shipyard.registry.validation`)."""
        name, alias = self._write_name(validate_model_name(name)), validate_alias(alias)
        self._check_loads(name, version, f"set alias {alias!r} to")
        return self.store.set_alias(name, alias, version, user=self.user, at=utcnow())

    def _check_loads(self, name: str, version: int, action: str) -> None:
        if self.store.server_checks_packages:  # the server checks its own copy of the package
            return
        from shipyard.registry.validation import check_version_loads

        check_version_loads(self.stores, self.store.get_version(name, version), action)

    def delete_alias(self, name: str, alias: str) -> AliasEvent:
        return self.store.delete_alias(
            self._write_name(validate_model_name(name)), validate_alias(alias), user=self.user, at=utcnow()
        )

    def protect_alias(self, name: str, alias: str, protected: bool = True) -> AliasEvent:
        return self.store.protect_alias(
            self._write_name(validate_model_name(name)),
            validate_alias(alias),
            protected,
            user=self.user,
            at=utcnow(),
        )

    def approve(self, name: str, version: int, approved: bool = True) -> ModelVersion:
        """Approve (or revoke); an approval is refused when the package does not load."""
        name = self._write_name(validate_model_name(name))
        if approved:
            self._check_loads(name, version, "approve")
        return self.store.set_approval(name, version, approved, user=self.user, at=utcnow())

    def tag_version(self, name: str, version: int, tags: Mapping[str, Any]) -> ModelVersion:
        return self.store.set_version_tags(
            self._write_name(validate_model_name(name)), version, validate_tags(tags)
        )

    def delete_version(self, name: str, version: int) -> None:
        self.store.delete_version(self._write_name(validate_model_name(name)), version)

    def describe(self, name: str, description: str) -> RegisteredModel:
        return self.store.update_model(
            self._write_name(validate_model_name(name)), description=description, at=utcnow()
        )
