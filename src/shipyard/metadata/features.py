"""The feature-view registry interface: each applied view's spec, versioned.

``shipyard features apply`` stores a view's :meth:`shipyard.features.views.FeatureView.spec`; an
unchanged spec (same canonical JSON hash) adds no version, a changed one adds the next version.
Versions are immutable. :func:`open_feature_records` picks the implementation beside a metadata
store (SQL tables in the same database, ``metadata/sql/features_store.py``). One contract suite
(``tests/contract/test_feature_records_contract.py``) runs over every backend.

Lists take ``limit``/``offset`` in a total order (views by name; versions newest first);
``limit=None`` is all; a negative one is InvalidInputError. An unknown view or version is
NotFoundError naming it.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from shipyard.metadata.base import MetadataStore


def spec_hash(spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(dict(spec), option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class ViewRecord:
    name: str
    version: int
    spec: dict[str, Any]
    spec_hash: str
    project: str | None
    created_at: datetime
    created_by: str


class FeatureRecords(abc.ABC):
    @abc.abstractmethod
    def apply_view(
        self, name: str, spec: Mapping[str, Any], *, project: str | None, by: str, at: datetime
    ) -> tuple[ViewRecord, bool]:
        """Store the spec as the view's next version unless it equals the latest; return the
        latest record and whether a version was added."""

    @abc.abstractmethod
    def get_view(self, name: str, version: int | None = None) -> ViewRecord:
        """The latest (or the given) version; NotFoundError naming the view/version."""

    @abc.abstractmethod
    def list_views(
        self, *, limit: int | None = None, offset: int = 0, after: str | None = None
    ) -> list[ViewRecord]:
        """Each view's latest version, by name; with ``after`` only the views whose name sorts
        after it (keyset paging on the primary key)."""

    @abc.abstractmethod
    def view_versions(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[ViewRecord]:
        """A view's versions, newest first; NotFoundError for an unknown view."""


def open_feature_records(metadata: MetadataStore) -> FeatureRecords:
    """The feature-view registry that lives beside ``metadata``."""
    from shipyard.metadata.registry import companion_store

    records: FeatureRecords = companion_store(
        metadata,
        "the feature registry",
        sql="shipyard.metadata.sql.features_store:SqlFeatureRecords",
        rest="shipyard.metadata.rest.features:RestFeatureRecords",
    )
    return records
