"""The stores a run works on, opened from settings (the runtime does not depend on tracking)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard.artifacts.store import ArtifactStore
from shipyard.metadata.base import MetadataStore

# imported with the runtime (sqlite3 included), so a local worker forked before the runner opens
# its stores inherits it instead of importing it again
from shipyard.metadata.sqlite_store import SqliteRunStore

if TYPE_CHECKING:
    from shipyard.core.settings import Settings


@dataclass
class RunStores:
    settings: Settings
    metadata: MetadataStore
    artifacts: ArtifactStore

    def close(self) -> None:
        self.metadata.close()


def open_run_metadata(uri: str) -> MetadataStore:
    """The metadata store a run writes to: for an embedded SQLite file at this code's schema head
    the standard-library store of the run path (:class:`~shipyard.metadata.sqlite_store.SqliteRunStore`:
    no SQLAlchemy in the runner or its workers), else the one ``uri``'s scheme names."""
    from shipyard.metadata.registry import open_metadata_store

    fast = SqliteRunStore.open(uri)
    return fast if fast is not None else open_metadata_store(uri)


def open_run_stores(settings: Settings) -> RunStores:
    from shipyard.artifacts.registry import open_artifact_store

    if not settings.uri:
        settings.home.mkdir(parents=True, exist_ok=True)
    metadata = open_run_metadata(settings.metadata_uri)
    try:
        artifacts = open_artifact_store(settings)
    except BaseException:
        metadata.close()
        raise
    return RunStores(settings=settings, metadata=metadata, artifacts=artifacts)
