"""``DatasetService``: the datasets domain service over one :class:`Stores`.

It snapshots values and paths as versions (content-addressed, deduplicated), resolves
``datasets:/`` references, loads versions back (table, batches, folder), diffs versions and
answers lineage (which runs read or wrote a version, which model versions came from those runs).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.clock import utcnow
from shipyard.core.errors import InvalidInputError
from shipyard.data import load as loading
from shipyard.data.diff import VersionDiff, diff_versions
from shipyard.data.hashcache import HashCache
from shipyard.data.rowfilter import parse_row_filter
from shipyard.data.snapshot import Snapshot, snapshot_path, snapshot_table
from shipyard.data.tables import is_table
from shipyard.data.uri import DatasetRef, parse_dataset_uri, validate_dataset_name
from shipyard.metadata.datasets import (
    DatasetFile,
    DatasetStore,
    DatasetUse,
    DatasetVersion,
    DatasetVersionCreate,
    open_dataset_store,
)
from shipyard.metadata.model_registry import ModelVersion, open_registry_store
from shipyard.security.policy import check_project_name
from shipyard.tracking.stores import Stores

if TYPE_CHECKING:
    import pyarrow as pa

OUTPUTS = ("pandas", "arrow", "path")


@dataclass(frozen=True)
class SnapshotResult:
    version: DatasetVersion
    written: int  # blobs written; 0 when every file was already stored


@dataclass(frozen=True)
class Lineage:
    version: DatasetVersion
    uses: list[DatasetUse]
    models: list[ModelVersion] = field(default_factory=list)  # versions whose run read it


class DatasetService:
    def __init__(self, stores: Stores, store: DatasetStore | None = None) -> None:
        self.stores = stores
        self.store = store if store is not None else open_dataset_store(stores.metadata)
        self.user = stores.settings.user

    # ---- writing ---------------------------------------------------------------------------------
    def snapshot(
        self,
        name: str,
        data: Any,
        *,
        description: str = "",
        column_tags: Mapping[str, Sequence[str]] | None = None,
        run_id: str | None = None,
        task_id: str | None = None,
        project: str | None = None,
    ) -> SnapshotResult:
        """Store ``data`` (DataFrame, Arrow table, a path or ``s3://`` URI) as the next version."""
        validate_dataset_name(name, new=True)
        project = project if project is not None else self.stores.settings.project
        project = None if project is None else check_project_name(project)
        snap = self._snapshot(name, data, column_tags)
        version = self.store.create_version(
            DatasetVersionCreate(
                dataset_name=name,
                kind=snap.kind,
                source_format=snap.source_format,
                files=tuple(snap.files),
                created_by=self.user,
                created_at=utcnow(),
                num_rows=snap.num_rows,
                columns=snap.columns,
                stats=snap.stats,
                description=description,
                run_id=run_id,
                task_id=task_id,
                project=project,
            )
        )
        if run_id is not None:
            self.record_use(version, run_id, task_id, "output")
        return SnapshotResult(version, snap.written)

    def _snapshot(self, name: str, data: Any, column_tags: Mapping[str, Sequence[str]] | None) -> Snapshot:
        cas = self.stores.artifacts.cas
        if is_table(data):
            return snapshot_table(cas, data, column_tags)
        if isinstance(data, str) and data.startswith("s3://"):
            return self._snapshot_s3(name, data, column_tags)
        if isinstance(data, str | Path):
            path = Path(data).expanduser()
            cache = HashCache(self.stores.settings.home / "cache" / "file-hashes.db")
            try:
                return snapshot_path(cas, path, column_tags, cache, self._known_digests(name))
            finally:
                cache.close()
        raise InvalidInputError(
            f"cannot snapshot a {type(data).__module__}.{type(data).__qualname__}; give a pandas "
            "DataFrame, a pyarrow Table, or the path of a Parquet/CSV file or a folder (or s3://...)"
        )

    def _snapshot_s3(self, name: str, uri: str, column_tags: Mapping[str, Sequence[str]] | None) -> Snapshot:
        """Copy the objects under an S3 prefix to a private temp folder, then snapshot that."""
        from shipyard.artifacts.registry import open_blob_backend

        source = open_blob_backend(uri, self.stores.settings)
        with tempfile.TemporaryDirectory(prefix="shipyard-s3-") as tmp:
            root = Path(tmp) / "data"
            keys = list(source.list_keys(""))
            if not keys:
                raise InvalidInputError(
                    f"cannot snapshot {uri}: no objects under it; check the bucket and prefix"
                )
            for key in keys:
                target = root.joinpath(*loading.safe_relative(key).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with source.open_read(key) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 16 << 20)
            single = keys[0] if len(keys) == 1 and "/" not in keys[0] else None
            return snapshot_path(
                self.stores.artifacts.cas,
                root / single if single else root,
                column_tags,
                None,
                self._known_digests(name),
            )

    def _known_digests(self, name: str) -> dict[str, DatasetFile]:
        """Where the latest version keeps each digest (stored for sure: a version references it)."""
        from shipyard.core.errors import NotFoundError

        try:
            latest = self.store.get_dataset(name).latest_version
        except NotFoundError:
            return {}
        return {} if latest is None else {f.digest: f for f in self.store.list_files(name, latest)}

    def record_use(self, version: DatasetVersion, run_id: str, task_id: str | None, direction: str) -> None:
        use = DatasetUse(version.dataset_name, version.version, run_id, direction, utcnow(), task_id)
        self.store.record_use(use)

    # ---- reading ---------------------------------------------------------------------------------
    def resolve(self, uri: str | DatasetRef) -> DatasetVersion:
        ref = parse_dataset_uri(uri) if isinstance(uri, str) else uri
        if ref.alias is not None:
            return self.store.resolve_alias(ref.name, ref.alias)
        if ref.version is not None:
            return self.store.get_version(ref.name, ref.version)
        latest = self.store.get_dataset(ref.name).latest_version
        if latest is None:
            from shipyard.core.errors import NotFoundError

            raise NotFoundError(f"dataset {ref.name!r} has no versions; add one with `shipyard data add`")
        return self.store.get_version(ref.name, latest)

    def files(self, version: DatasetVersion) -> list[DatasetFile]:
        return self.store.list_files(version.dataset_name, version.version)

    def _materializer(self) -> loading.Materializer:
        return loading.Materializer(
            self.stores.artifacts.cas, self.stores.settings.home / "cache" / "dataset-blobs"
        )

    def load(
        self,
        version: DatasetVersion,
        *,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        output: str | None = None,
        dest: Path | None = None,
    ) -> Any:
        """A table version as a DataFrame (``output="pandas"``, the default) or Arrow table; a
        files version (or ``output="path"``) as a local folder (``dest`` or a new temp folder)."""
        output = output or ("path" if version.kind == "files" else "pandas")
        if output not in OUTPUTS:
            raise InvalidInputError(f"output {output!r} is not one of {', '.join(OUTPUTS)}")
        if output == "path":
            target = (
                dest
                if dest is not None
                else Path(tempfile.mkdtemp(prefix=f"shipyard-{version.dataset_name}-"))
            )
            return loading.to_folder(self._materializer(), self.files(version), target, version.uri)
        table = self.read_table(version, columns=columns, where=where)
        return loading.as_output(table, output)

    def _table_files(self, version: DatasetVersion) -> list[DatasetFile]:
        if version.kind != "table":
            raise InvalidInputError(
                f"{version.uri} is a folder of files, not a table; load it with output='path' "
                "(`shipyard data get`)"
            )
        return self.files(version)

    def read_table(
        self, version: DatasetVersion, *, columns: Sequence[str] | None = None, where: str | None = None
    ) -> pa.Table:
        expr = parse_row_filter(where) if where is not None else None
        return loading.read_table(
            self._materializer(), self._table_files(version), version.uri, columns, expr
        )

    def iter_batches(
        self,
        version: DatasetVersion,
        *,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        batch_size: int = 65_536,
    ) -> Iterator[pa.RecordBatch]:
        expr = parse_row_filter(where) if where is not None else None
        files = self._table_files(version)
        return loading.iter_batches(
            self._materializer(), files, version.uri, columns, expr, batch_size=batch_size
        )

    # ---- managing ----------------------------------------------------------------------------------
    def diff(self, old: DatasetVersion, new: DatasetVersion) -> VersionDiff:
        return diff_versions(old, new, self.files(old), self.files(new))

    def set_alias(self, name: str, alias: str, version: int) -> DatasetVersion:
        return self.store.set_alias(name, alias, version, user=self.user, at=utcnow())

    def lineage(self, version: DatasetVersion) -> Lineage:
        """The runs that read or wrote ``version`` and the model versions registered from the
        runs that read it."""
        uses = self.store.version_uses(version.dataset_name, version.version)
        registry = open_registry_store(self.stores.metadata)
        models: list[ModelVersion] = []
        for run_id in dict.fromkeys(u.run_id for u in uses if u.direction == "input"):
            models.extend(registry.versions_from_run(run_id))
        return Lineage(version, uses, models)

    def run_datasets(self, run_id: str) -> list[DatasetUse]:
        """The dataset versions a run read (inputs) or wrote (outputs)."""
        return self.store.run_uses(run_id)

    def model_datasets(self, model: str, version: int) -> list[DatasetUse]:
        """The dataset versions the run of a model version read."""
        found = open_registry_store(self.stores.metadata).get_version(model, version)
        if found.run_id is None:
            return []
        return [u for u in self.store.run_uses(found.run_id) if u.direction == "input"]
