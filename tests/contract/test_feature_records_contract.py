"""The FeatureRecords contract (shipyard.metadata.features), over every metadata backend:
SQLite, Postgres and a shipyard server (REST)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.metadata import MetadataStore
from shipyard.metadata.features import FeatureRecords, open_feature_records

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPEC = {"name": "cust", "features": {"amount": "float64"}, "ttl": "30d", "transform": None}


@pytest.fixture
def records(metadata_store: MetadataStore) -> FeatureRecords:
    return open_feature_records(metadata_store)


def test_an_unchanged_spec_adds_no_version_and_a_change_adds_the_next(records: FeatureRecords) -> None:
    first, created = records.apply_view("cust", SPEC, project=None, by="alice", at=T0)
    assert created and first.version == 1 and first.spec == SPEC
    again, created = records.apply_view("cust", dict(SPEC), project=None, by="bob", at=T0 + timedelta(1))
    assert not created and again.version == 1 and again.spec_hash == first.spec_hash
    changed = {**SPEC, "ttl": "7d"}
    second, created = records.apply_view("cust", changed, project=None, by="bob", at=T0 + timedelta(2))
    assert created and second.version == 2 and second.spec == changed
    assert records.get_view("cust").version == 2
    assert records.get_view("cust", 1).spec == SPEC  # versions are immutable
    assert [v.version for v in records.view_versions("cust")] == [2, 1]
    assert [v.version for v in records.view_versions("cust", limit=1, offset=1)] == [1]


def test_lists_are_paged_by_name_and_unknowns_are_named(records: FeatureRecords) -> None:
    for name in ["zeta", "alpha", "mid"]:
        records.apply_view(name, {**SPEC, "name": name}, project=None, by="alice", at=T0)
    records.apply_view("mid", {**SPEC, "name": "mid", "ttl": "1d"}, project=None, by="alice", at=T0)
    views = records.list_views()
    assert [(v.name, v.version) for v in views] == [("alpha", 1), ("mid", 2), ("zeta", 1)]
    assert [v.name for v in records.list_views(limit=1, offset=1)] == ["mid"]
    assert records.list_views(limit=0) == []
    with pytest.raises(InvalidInputError):
        records.list_views(limit=-1)
    with pytest.raises(NotFoundError, match="feature view 'nope' does not exist"):
        records.get_view("nope")
    with pytest.raises(NotFoundError, match="version 9 of feature view 'alpha'"):
        records.get_view("alpha", 9)
    with pytest.raises(NotFoundError, match="'nope'"):
        records.view_versions("nope")


def test_views_page_by_keyset_on_their_names(records: FeatureRecords) -> None:
    for name in ["zeta", "alpha", "mid", "beta"]:
        records.apply_view(name, {**SPEC, "name": name}, project=None, by="alice", at=T0)
    records.apply_view("mid", {**SPEC, "name": "mid", "ttl": "1d"}, project=None, by="alice", at=T0)
    assert [v.name for v in records.list_views(after="alpha")] == ["beta", "mid", "zeta"]
    assert [(v.name, v.version) for v in records.list_views(limit=1, after="beta")] == [("mid", 2)]
    assert [v.name for v in records.list_views(limit=2, offset=1, after="alpha")] == ["mid", "zeta"]
    assert [v.name for v in records.list_views(after="c")] == ["mid", "zeta"]  # not a view's name
    assert records.list_views(after="zeta") == []
    assert [v.name for v in records.list_views(after="alpha", limit=0)] == []
