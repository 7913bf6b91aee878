"""The dataset storage interface: named datasets, their immutable versions, files, aliases and uses.

Writing a new backend
---------------------
Subclass :class:`DatasetStore`, implement every abstract method, teach :func:`open_dataset_store`
to build it, and add it to ``tests/contract/test_datasets_contract.py`` (it runs over every
metadata backend: SQLite, Postgres, REST).

Rules every backend keeps:

- Version numbers are per dataset, start at 1, are assigned race-free and never reused, even
  after a version is deleted. Creating a version creates its dataset when it does not exist yet.
- A version, with its files, schema and statistics, is written in one transaction and never
  changes afterwards; a failed create leaves nothing behind.
- Dataset names are unique by :func:`~shipyard.core.names.canonical_name` (a look-alike raises
  :class:`~shipyard.core.errors.AlreadyExistsError`); aliases are unique per dataset.
- A version that an alias points at cannot be deleted (:class:`ConflictError`).
- Every list takes keyword-only ``limit``/``offset`` in a total order (``limit=None``: all).
- A dataset may belong to a project, set when it is created and never changed;
  ``list_datasets(hidden_projects=...)`` leaves those projects' datasets out.
- Unknown datasets, versions and aliases raise :class:`~shipyard.core.errors.NotFoundError`.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipyard.metadata.base import MetadataStore

#: version kinds: ``table`` (Parquet parts, loads as a table) or ``files`` (a folder of files)
DATASET_KINDS = ("table", "files")
#: directions of a :class:`DatasetUse`
USE_DIRECTIONS = ("input", "output")


@dataclass(frozen=True)
class DatasetFile:
    """One file of a version: its relative path, content digest (sha256 of its bytes), size and
    (tables) row count. Small files are stored in a *pack* blob: ``pack`` is that blob's digest and
    ``offset`` where the file's bytes start in it; a large Parquet file may be stored as
    ``chunks``; otherwise the file is the blob ``digest``."""

    path: str
    digest: str
    size: int
    rows: int | None = None
    pack: str | None = None
    offset: int | None = None
    #: a large Parquet file stored as row-group-aligned chunks: ((chunk digest, size), ...) in file
    #: order; ``digest`` is then :func:`chunks_digest` of them, not a blob (None: one blob or a pack)
    chunks: tuple[tuple[str, int], ...] | None = None


def chunks_digest(chunks: Sequence[tuple[str, int]]) -> str:
    """The digest of a chunked file: sha256 over its chunks' digests and sizes in order (so two
    files with the same chunks have the same digest, and the list cannot be changed unseen)."""
    text = "".join(f"{digest} {size}\n" for digest, size in chunks)
    return hashlib.sha256(b"shipyard-chunks-1\n" + text.encode()).hexdigest()


def file_row(f: DatasetFile) -> list[Any]:
    """A file as the wire row ``[path, sha256, size, rows, pack, offset]`` (a chunked file adds
    ``[[chunk sha256, size]...]``)."""
    row: list[Any] = [f.path, f.digest, f.size, f.rows, f.pack, f.offset]
    if f.chunks is not None:
        row.append([[d, n] for d, n in f.chunks])
    return row


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    created_by: str
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version
    project: str | None = None

    def _repr_html_(self) -> str:
        """A notebook's display (escaped HTML)."""
        from shipyard.core.reprs import dataset_html

        return dataset_html(self)


@dataclass(frozen=True)
class DatasetVersionCreate:
    dataset_name: str
    kind: str  # one of DATASET_KINDS
    source_format: str  # what was snapshot: dataframe, arrow, parquet, csv, folder
    files: tuple[DatasetFile, ...]
    created_by: str
    created_at: datetime
    num_rows: int | None = None
    columns: tuple[dict[str, Any], ...] = ()  # [{"name", "type", "tags": [...]}], in order
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # column -> statistics
    description: str = ""
    run_id: str | None = None
    task_id: str | None = None
    project: str | None = None  # the dataset's project when this version creates it


@dataclass(frozen=True)
class DatasetVersion:
    dataset_name: str
    version: int
    kind: str
    source_format: str
    num_files: int
    size: int
    num_rows: int | None
    columns: tuple[dict[str, Any], ...]
    stats: dict[str, dict[str, Any]]
    description: str
    created_by: str
    created_at: datetime
    run_id: str | None = None
    task_id: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"datasets:/{self.dataset_name}/{self.version}"

    def _repr_html_(self) -> str:
        """A notebook's display (escaped HTML)."""
        from shipyard.core.reprs import dataset_version_html

        return dataset_version_html(self)


@dataclass(frozen=True)
class DatasetUse:
    """A run (and task) read (``input``) or wrote (``output``) a dataset version."""

    dataset_name: str
    version: int
    run_id: str
    direction: str  # one of USE_DIRECTIONS
    at: datetime
    task_id: str | None = None


class DatasetStore(abc.ABC):
    """Where datasets live; shares the metadata store's database."""

    @abc.abstractmethod
    def get_dataset(self, name: str) -> Dataset: ...

    @abc.abstractmethod
    def list_datasets(
        self,
        prefix: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        hidden_projects: Sequence[str] = (),
    ) -> list[Dataset]:
        """Every dataset (name starting with ``prefix``), by name, without ``hidden_projects``'."""

    @abc.abstractmethod
    def create_version(self, create: DatasetVersionCreate) -> DatasetVersion:
        """Record the next version with its files (creating the dataset if needed), atomically."""

    @abc.abstractmethod
    def get_version(self, name: str, version: int) -> DatasetVersion: ...

    @abc.abstractmethod
    def list_versions(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""

    @abc.abstractmethod
    def list_files(
        self, name: str, version: int, *, limit: int | None = None, offset: int = 0
    ) -> list[DatasetFile]:
        """The files of a version, by path."""

    @abc.abstractmethod
    def delete_version(self, name: str, version: int) -> None:
        """Delete a version's record (not its blobs); ConflictError while an alias points at it."""

    @abc.abstractmethod
    def set_alias(self, name: str, alias: str, version: int, *, user: str, at: datetime) -> DatasetVersion:
        """Point ``alias`` at ``version`` (creating or moving it); the version it now names."""

    @abc.abstractmethod
    def delete_alias(self, name: str, alias: str) -> None: ...

    @abc.abstractmethod
    def resolve_alias(self, name: str, alias: str) -> DatasetVersion: ...

    @abc.abstractmethod
    def record_use(self, use: DatasetUse) -> None:
        """Record that a run read or wrote a version (once per run, task, version and direction)."""

    @abc.abstractmethod
    def version_uses(
        self, name: str, version: int, *, limit: int | None = None, offset: int = 0
    ) -> list[DatasetUse]:
        """The runs that read or wrote a version, oldest first."""

    @abc.abstractmethod
    def run_uses(self, run_id: str, *, limit: int | None = None, offset: int = 0) -> list[DatasetUse]:
        """The dataset versions a run read or wrote, by dataset name, version and direction."""


def open_dataset_store(metadata: MetadataStore) -> DatasetStore:
    """The dataset store that lives beside ``metadata`` (same database, or same server)."""
    from shipyard.metadata.registry import companion_store

    store: DatasetStore = companion_store(
        metadata,
        "datasets",
        sql="shipyard.metadata.sql.datasets_store:SqlDatasetStore",
        rest="shipyard.metadata.rest.datasets:RestDatasetStore",
    )
    return store
