"""Metadata backends: one interface (:class:`MetadataStore`), chosen by URI scheme."""

from shipyard.metadata.base import MetadataStore, MetricPage, RunPage
from shipyard.metadata.registry import open_metadata_store

__all__ = ["MetadataStore", "MetricPage", "RunPage", "open_metadata_store"]
