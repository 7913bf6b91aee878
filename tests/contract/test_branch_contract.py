"""The BranchStore contract (shipyard.metadata.branches) over every metadata backend: SQLite,
Postgres and a shipyard server (REST)."""

from __future__ import annotations

import pytest

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.metadata import MetadataStore
from shipyard.metadata.branches import BranchStore, open_branch_store


@pytest.fixture
def store(metadata_store: MetadataStore) -> BranchStore:
    return open_branch_store(metadata_store)


def test_record_is_idempotent_and_lists_page_by_project_then_name(store: BranchStore) -> None:
    first = store.record("fraud", "feature-x", by="alice")
    again = store.record("fraud", "feature-x", by="bob")
    assert again == first and first.namespace == "project:fraud/branch:feature-x" and not first.deleted
    store.record("fraud", "a-fix", by="bob")
    store.record("churn", "feature-x", by="bob")
    assert [(b.project, b.name) for b in store.list_branches()] == [
        ("churn", "feature-x"),
        ("fraud", "a-fix"),
        ("fraud", "feature-x"),
    ]
    assert [b.name for b in store.list_branches("fraud")] == ["a-fix", "feature-x"]
    assert [b.name for b in store.list_branches("fraud", limit=1, offset=1)] == ["feature-x"]
    assert store.list_branches("nothing") == []
    with pytest.raises(InvalidInputError):
        store.list_branches(limit=-1)


def test_delete_marks_and_hides_and_recording_again_revives(store: BranchStore) -> None:
    made = store.record("fraud", "feature-x", by="alice")
    gone = store.mark_deleted("fraud", "feature-x", by="carol")
    # who: the caller on a database, the token's principal through a server
    assert gone.deleted and gone.deleted_by in ("carol", "admin") and gone.created_by == made.created_by
    assert store.list_branches("fraud") == []
    assert [b.name for b in store.list_branches("fraud", include_deleted=True)] == ["feature-x"]
    assert store.get_branch("fraud", "feature-x").deleted
    back = store.record("fraud", "feature-x", by="alice")
    assert not back.deleted and [b.name for b in store.list_branches("fraud")] == ["feature-x"]


def test_unknown_and_invalid_branches_are_refused_in_one_line(store: BranchStore) -> None:
    with pytest.raises(NotFoundError, match="no branch 'nope'"):
        store.get_branch("fraud", "nope")
    with pytest.raises(NotFoundError):
        store.mark_deleted("fraud", "nope", by="alice")
    for bad in ("Feature/X", "main", "a--b", "-x"):
        with pytest.raises(InvalidInputError, match="branch"):
            store.record("fraud", bad, by="alice")
    with pytest.raises(InvalidInputError, match="project"):
        store.record("Fraud!", "x", by="alice")
