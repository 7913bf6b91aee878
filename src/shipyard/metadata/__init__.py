"""Metadata backends: one interface (:class:`MetadataStore`), chosen by URI scheme."""

from shipyard.metadata.base import MetadataStore, RunPage
from shipyard.metadata.registry import open_metadata_store

__all__ = ["MetadataStore", "RunPage", "open_metadata_store"]
