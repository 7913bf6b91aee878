"""The stores a run works on, opened from settings (the runtime does not depend on tracking)."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.artifacts.store import ArtifactStore
from shipyard.core.settings import Settings
from shipyard.metadata.base import MetadataStore


@dataclass
class RunStores:
    settings: Settings
    metadata: MetadataStore
    artifacts: ArtifactStore

    def close(self) -> None:
        self.metadata.close()


def open_run_stores(settings: Settings) -> RunStores:
    from shipyard.artifacts.registry import open_artifact_store
    from shipyard.metadata.registry import open_metadata_store

    if not settings.uri:
        settings.home.mkdir(parents=True, exist_ok=True)
    metadata = open_metadata_store(settings.metadata_uri)
    try:
        artifacts = open_artifact_store(settings)
    except BaseException:
        metadata.close()
        raise
    return RunStores(settings=settings, metadata=metadata, artifacts=artifacts)
