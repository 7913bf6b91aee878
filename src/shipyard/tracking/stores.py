"""The pair of stores every domain service works on, built once at the edge and passed down.

``open_stores(settings)`` opens the metadata store named by ``settings.metadata_uri`` and the
artifact store at ``settings.artifact_root``. Nothing is opened at import time; the fluent API
(:mod:`shipyard.tracking.fluent`) caches one :class:`Stores` per process, everything else receives
one explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.artifacts.store import ArtifactStore
from shipyard.core.settings import Settings, load_settings
from shipyard.metadata.base import MetadataStore


@dataclass
class Stores:
    settings: Settings
    metadata: MetadataStore
    artifacts: ArtifactStore

    def close(self) -> None:
        """Release the metadata store's connections. Idempotent."""
        self.metadata.close()


def open_stores(settings: Settings | None = None) -> Stores:
    """Open the metadata and artifact stores the settings name (the embedded defaults when unset)."""
    from shipyard.artifacts.registry import open_artifact_store
    from shipyard.metadata.registry import open_metadata_store

    settings = settings if settings is not None else load_settings()
    if not settings.uri:  # the embedded SQLite file lives in SHIPYARD_HOME
        settings.home.mkdir(parents=True, exist_ok=True)
    if settings.metadata_uri.lower().startswith(("http://", "https://")):  # a server: send our token
        from shipyard.metadata.rest.store import RestMetadataStore

        metadata: MetadataStore = RestMetadataStore(
            settings.metadata_uri, token=settings.token, branch=settings.branch
        )
    else:
        metadata = open_metadata_store(settings.metadata_uri, db_timeout_s=settings.db_timeout_s)
    try:
        artifacts = open_artifact_store(settings)
    except BaseException:
        metadata.close()
        raise
    return Stores(settings=settings, metadata=metadata, artifacts=artifacts)
