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

from shipyard.core.branches import check_branch_name_write
from shipyard.core.clock import utcnow
from shipyard.core.errors import InvalidInputError
from shipyard.data import load as loading
from shipyard.data import policies as guard
from shipyard.data.diff import VersionDiff, diff_versions
from shipyard.data.files import Progress
from shipyard.data.hashcache import HashCache
from shipyard.data.rowfilter import parse_row_filter
from shipyard.data.snapshot import Snapshot, snapshot_path, snapshot_table
from shipyard.data.tables import is_table
from shipyard.data.uri import DatasetRef, parse_dataset_uri, validate_dataset_name
from shipyard.metadata.branches import note_branch
from shipyard.metadata.datasets import (
    DatasetFile,
    DatasetStore,
    DatasetUse,
    DatasetVersion,
    DatasetVersionCreate,
    open_dataset_store,
)
from shipyard.metadata.model_registry import ModelVersion, open_registry_store
from shipyard.metadata.rest.datasets import RestDatasetStore
from shipyard.security.data_policy import Decision
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
        self._reader: guard.Reader | bool | None = False  # False: not looked up yet
        self._mask_key: bytes | None = None

    # ---- data policies ------------------------------------------------------------------------------
    @property
    def reader(self) -> guard.Reader | None:
        """Who reads through the local paths (None over a server: the server decides there)."""
        if self._reader is False:
            self._reader = guard.local_reader(self.stores)
        assert not isinstance(self._reader, bool)
        return self._reader

    def decision(self, version: DatasetVersion) -> Decision:
        """What this service's user may see of ``version`` (local paths; over a server: the
        server's answer)."""
        if isinstance(self.store, RestDatasetStore):
            found = self.store.read_access(version.dataset_name, version.version)
            return Decision(
                frozenset(found["hidden"]),
                dict(found["masked"]),
                "(server-side)" if found["row_filter"] else None,
                tuple(found["pii_read"]),
            )
        reader = self.reader
        if reader is None:
            return Decision()
        project = self.store.get_dataset(version.dataset_name).project
        return reader.decision("dataset", version.dataset_name, version.columns, guard.scope_of(project))

    def _local_plan(
        self, version: DatasetVersion, columns: Sequence[str] | None, where: str | None
    ) -> guard.Plan:
        """How to read locally (over a server, only after it said the reader is unrestricted)."""
        remote = isinstance(self.store, RestDatasetStore)
        return guard.plan_read(version, Decision() if remote else self.decision(version), columns, where)

    def _salt(self) -> bytes:
        """The key of ``mask:hash``: the one under this process's home (the server's, on the server)."""
        if self._mask_key is None:
            self._mask_key = guard.policy_salt(self.stores.settings.home)
        return self._mask_key

    def _server_reads(self, version: DatasetVersion) -> bool:
        """Whether a REST read of ``version`` must go through the server's data route."""
        if not isinstance(self.store, RestDatasetStore) or version.kind != "table":
            return False
        return bool(self.store.read_access(version.dataset_name, version.version)["data_route"])

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
        progress: Progress | None = None,
        durable: bool = False,
    ) -> SnapshotResult:
        """Store ``data`` (DataFrame, Arrow table, a path or ``s3://`` URI) as the next version;
        ``progress(done, total)`` follows the bytes of a path's files as they are stored.
        ``durable``: wait until a path's large files are on the disk (fsync) before the version is
        recorded; by default the kernel writes them back a little later, as after ``cp``
        (:mod:`shipyard.artifacts.staged`)."""
        validate_dataset_name(name, new=True)
        settings = self.stores.settings
        name = check_branch_name_write(settings, name, "dataset")
        if settings.branch is not None and project is not None and project != settings.project:
            raise InvalidInputError(
                f"on branch {settings.branch!r} of project {settings.project!r} a dataset cannot go into "
                f"project {project!r}; leave out project"
            )
        project = project if project is not None else settings.project
        project = None if project is None else check_project_name(project)
        note_branch(self.stores.metadata, settings)
        snap = self._snapshot(name, data, column_tags, progress, durable)
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

    def _snapshot(
        self,
        name: str,
        data: Any,
        column_tags: Mapping[str, Sequence[str]] | None,
        progress: Progress | None = None,
        durable: bool = False,
    ) -> Snapshot:
        cas = self.stores.artifacts.cas
        if is_table(data):
            return snapshot_table(cas, data, column_tags)
        if isinstance(data, str) and data.startswith("s3://"):
            return self._snapshot_s3(name, data, column_tags, durable)
        if isinstance(data, str | Path):
            path = Path(data).expanduser()
            cache = HashCache(self.stores.settings.home / "cache" / "file-hashes.db")
            try:
                return snapshot_path(
                    cas,
                    path,
                    column_tags,
                    cache,
                    self._known_digests(name),
                    progress=progress,
                    durable=durable,
                )
            finally:
                cache.close()
        raise InvalidInputError(
            f"cannot snapshot a {type(data).__module__}.{type(data).__qualname__}; give a pandas "
            "DataFrame, a pyarrow Table, or the path of a Parquet/CSV file or a folder (or s3://...)"
        )

    def _snapshot_s3(
        self, name: str, uri: str, column_tags: Mapping[str, Sequence[str]] | None, durable: bool
    ) -> Snapshot:
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
                durable=durable,
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
        """The version ``uri`` names (without the statistics of columns hidden or masked from
        this service's user)."""
        found = self._resolve(uri)
        if isinstance(self.store, RestDatasetStore) or self.reader is None:
            return found  # the server answers versions already redacted
        return guard.redact_stats(found, self.decision(found))

    def _resolve(self, uri: str | DatasetRef) -> DatasetVersion:
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
            if version.kind == "table":
                guard.refuse_raw_files(version, self.decision(version))
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
        """The version's rows as this service's user may see them (data policies applied: over a
        server by the server's data route, locally here)."""
        if self._server_reads(version):
            assert isinstance(self.store, RestDatasetStore)
            table: pa.Table = self.store.read_data(
                version.dataset_name, version.version, columns=columns, where=where
            )
            return table
        plan = self._local_plan(version, columns, where)
        return self.read_plain(version, plan.read_columns, plan.where, plan)

    def read_plain(
        self,
        version: DatasetVersion,
        columns: Sequence[str] | None,
        where: str | None,
        plan: guard.Plan | None,
    ) -> pa.Table:
        """Read the files (``plan`` shapes the answer: the server's data route uses it too)."""
        expr = parse_row_filter(where) if where is not None else None
        table = loading.read_table(
            self._materializer(), self._table_files(version), version.uri, columns, expr
        )
        return table if plan is None else guard.shape(table, plan, self._salt())

    def iter_batches(
        self,
        version: DatasetVersion,
        *,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        batch_size: int = 65_536,
    ) -> Iterator[pa.RecordBatch]:
        if self._server_reads(version):  # read as the server streams it, a batch at a time
            assert isinstance(self.store, RestDatasetStore)
            reader = self.store.stream_data(
                version.dataset_name, version.version, columns=columns, where=where
            )
            return (piece for batch in reader for piece in _sliced(batch, batch_size))
        plan = self._local_plan(version, columns, where)
        return self.iter_plain(version, plan, batch_size=batch_size)

    def iter_plain(
        self, version: DatasetVersion, plan: guard.Plan, *, batch_size: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        expr = parse_row_filter(plan.where) if plan.where is not None else None
        files = self._table_files(version)
        batches = loading.iter_batches(
            self._materializer(), files, version.uri, plan.read_columns, expr, batch_size=batch_size
        )
        return guard.shape_batches(batches, plan, self._salt())

    # ---- managing ----------------------------------------------------------------------------------
    def diff(self, old: DatasetVersion, new: DatasetVersion) -> VersionDiff:
        """What changed (statistics of columns hidden or masked from this user left out)."""
        if not isinstance(self.store, RestDatasetStore) and self.reader is not None:
            old, new = (guard.redact_stats(v, self.decision(v)) for v in (old, new))
        return diff_versions(old, new, self.files(old), self.files(new))

    def set_alias(self, name: str, alias: str, version: int) -> DatasetVersion:
        name = check_branch_name_write(self.stores.settings, name, "dataset")
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


def _sliced(batch: pa.RecordBatch, size: int) -> Iterator[pa.RecordBatch]:
    """``batch`` in pieces of at most ``size`` rows."""
    for start in range(0, batch.num_rows, size):
        yield batch.slice(start, size)
