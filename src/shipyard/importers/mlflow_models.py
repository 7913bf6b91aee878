"""The model-registry part of an MLflow import: registered models, their versions (each packaged
with its MLflow model folder as it was, flavor ``mlflow``) and aliases. See
:mod:`shipyard.importers.mlflow_import` for the mapping."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import ConflictError, NotFoundError, SerializationError
from shipyard.core.names import validate_model_name
from shipyard.importers.mlflow_names import TAG_RUN, TAG_VERSION, target_run_id
from shipyard.metadata.model_registry import ModelVersion, ModelVersionCreate, RegisteredModel
from shipyard.registry.flavors.mlflow_pyfunc import MLMODEL, signature_from_mlmodel
from shipyard.registry.package import write_package
from shipyard.registry.service import ModelRegistry
from shipyard.registry.uri import validate_alias
from shipyard.tracking.client import validate_tags

if TYPE_CHECKING:
    from shipyard.importers.mlflow_import import MlflowImporter

TAG_STAGE = "mlflow.stage"


class ModelImporter:
    def __init__(self, parent: MlflowImporter) -> None:
        self.parent = parent
        self.source = parent.source
        self.summary = parent.summary
        self.dry_run = parent.options.dry_run
        self.project = parent.options.project
        self.registry = ModelRegistry(parent.stores)

    def run(self) -> None:
        self.parent.progress.stage("registered models", None)
        for model in self.source.registered_models():
            self._import_model(model)
            self.parent.progress.advance()

    def _import_model(self, src: Any) -> None:
        name = validate_model_name(str(src.name), new=True)
        versions = self.source.model_versions(src.name)
        aliases = {str(a): str(v) for a, v in (src.aliases or {}).items()}
        for alias in aliases:
            validate_alias(alias)
        self.summary.source.models += 1
        self.summary.source.versions += len(versions)
        self.summary.source.aliases += len(aliases)
        model = self._find(name)
        if self.dry_run:
            return
        if model is None:
            model = self.registry.create_model(
                name,
                description=str(src.description or ""),
                tags=validate_tags(dict(src.tags or {})),
                project=self.project,
            )
            self.summary.written.models += 1
        mapped = self._mapped(name)
        for version in versions:
            if str(version.version) not in mapped:
                mapped[str(version.version)] = self._import_version(name, version).version
                self.summary.written.versions += 1
        model = self.registry.get_model(name)
        for alias, source_version in sorted(aliases.items()):
            target = mapped.get(source_version)
            if target is None or model.aliases.get(alias) == target:
                continue
            if (
                alias in model.protected_aliases
                and not self.registry.store.get_version(name, target).approved
            ):
                if not self.parent.options.approve_protected:
                    raise ConflictError(
                        f"MLflow alias {alias!r} of model {name!r} points at version {source_version}, "
                        f"imported as models:/{name}/{target}, but {alias!r} is protected in shipyard "
                        "(approved versions only): rerun with --approve-protected-aliases, or run "
                        f"`shipyard models approve {name} {target}` and import again"
                    )
                self.registry.approve(name, target)
            self.registry.set_alias(name, alias, target)
            self.summary.written.aliases += 1
        self._verify(name, versions, aliases)

    def _find(self, name: str) -> RegisteredModel | None:
        try:
            return self.registry.get_model(name)
        except NotFoundError:
            return None

    def _mapped(self, name: str) -> dict[str, int]:
        """MLflow version number -> shipyard version number, for versions imported before."""
        out: dict[str, int] = {}
        for version in self._versions(name):
            source = version.tags.get(TAG_VERSION)
            if source is not None:
                out[source] = version.version
        return out

    def _versions(self, name: str) -> list[ModelVersion]:
        found: list[ModelVersion] = []
        while True:
            page = self.registry.store.list_versions(name, limit=500, offset=len(found))
            found.extend(page)
            if len(page) < 500:
                return found

    def _import_version(self, name: str, src: Any) -> ModelVersion:
        """Download the version's MLflow model, package it (flavor ``mlflow``) and register it."""
        stores = self.parent.stores
        with tempfile.TemporaryDirectory(prefix="shipyard-mlflow-model-") as tmp:
            folder = self.source.download_model_version(name, str(src.version), Path(tmp) / "src")
            if not (folder / MLMODEL).is_file():
                raise SerializationError(
                    f"MLflow model {name!r} version {src.version} has no {MLMODEL} file at its source "
                    f"{src.source!r}; it cannot be imported as a model package"
                )
            signature = signature_from_mlmodel(folder) or {
                "input_kind": "dataframe",
                "inputs": [],
                "outputs": {},
            }
            package = Path(tmp) / "package"
            manifest = write_package(
                package,
                folder,
                signature=signature,
                flavor="mlflow",
                source={"mlflow_source": str(src.source or ""), "mlflow_run_id": str(src.run_id or "")},
            )
            stored = stores.artifacts.put_path(package)
        run_id = self._run_of(src.run_id)
        tags = validate_tags(dict(src.tags or {}))
        tags[TAG_VERSION] = str(src.version)
        stage = str(src.current_stage or "")
        if stage and stage != "None":
            tags[TAG_STAGE] = stage
        created = src.creation_timestamp
        create = ModelVersionCreate(
            model_name=name,
            package_digest=stored.digest,
            package_size=stored.size,
            flavor=str(manifest["flavor"]),
            created_by=stores.settings.user,
            created_at=datetime.fromtimestamp(created / 1000, tz=UTC) if created else datetime.now(UTC),
            run_id=run_id,
            signature=dict(manifest["signature"]),
            description=str(src.description or ""),
            tags=tags,
            unsafe=bool(manifest["unsafe"]),
        )
        return self.registry.store.create_version(create)

    def _run_of(self, source_run_id: str | None) -> str | None:
        """The shipyard run the version came from, when that run was imported."""
        if not source_run_id:
            return None
        rid = self.parent.run_ids.get(source_run_id) or target_run_id(source_run_id)
        try:
            run = self.parent.metadata.get_run(rid)
        except NotFoundError:
            return None
        return rid if run.tags.get(TAG_RUN) == source_run_id else None

    def _verify(self, name: str, versions: list[Any], aliases: dict[str, str]) -> None:
        model = self.registry.get_model(name)
        self.summary.imported.models += 1
        mapped = self._mapped(name)
        wanted = {str(v.version) for v in versions}
        self.summary.imported.versions += len(wanted & set(mapped))
        self.summary.imported.aliases += sum(
            1 for alias, v in aliases.items() if v in mapped and model.aliases.get(alias) == mapped[v]
        )
