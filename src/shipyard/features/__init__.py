"""The feature store: feature views (entity, source, timestamp, TTL, features), point-in-time
correct training sets on DuckDB, and online lookups from SQLite or Redis."""

from __future__ import annotations

from shipyard.features.store import FeatureStore
from shipyard.features.views import DatasetSource, Entity, FeatureView, FileSource, SqlSource, feature_view

__all__ = [
    "DatasetSource",
    "Entity",
    "FeatureStore",
    "FeatureView",
    "FileSource",
    "SqlSource",
    "feature_view",
]
