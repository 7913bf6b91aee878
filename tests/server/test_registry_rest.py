"""The registry-storage tests of ``tests/registry/test_registry_store.py``, run against the REST
backend (a real server on loopback): same numbering, races, aliases, errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shipyard.metadata import MetadataStore, open_metadata_store
from shipyard.metadata.model_registry import RegistryStore, open_registry_store
from shipyard.metadata.rest.registry import RestRegistryStore
from tests.registry.test_registry_store import (  # noqa: F401 - collected here, on the REST backend
    test_a_look_alike_alias_is_refused_per_model,
    test_a_look_alike_model_name_is_refused_naming_the_existing_model,
    test_aliases_move_with_history_and_protection,
    test_create_model_twice_is_already_exists,
    test_delete_model_removes_everything,
    test_delete_model_tag,
    test_lineage_queries,
    test_lookups_stay_exact_and_suggest_the_look_alike,
    test_racing_alias_moves_leave_a_consistent_history,
    test_racing_registrations_across_processes,
    test_racing_registrations_get_distinct_numbers,
    test_rename_keeps_everything_but_the_name,
    test_version_tags,
    test_versions_are_numbered_per_model_and_never_reused,
)
from tests.server.live import LiveServer


@pytest.fixture
def metadata_uri(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)  # subprocesses inherit it
    return server.url


@pytest.fixture
def metadata_store(metadata_uri: str) -> Iterator[MetadataStore]:
    store = open_metadata_store(metadata_uri)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def registry_store(metadata_store: MetadataStore) -> RegistryStore:
    store = open_registry_store(metadata_store)
    assert isinstance(store, RestRegistryStore)
    return store


def test_look_alike_names_answer_409_and_odd_new_names_400(admin: httpx.Client) -> None:
    """Over HTTP: a look-alike model or user is a 409 naming the existing one; a new name with a
    trailing space or dot is a 400 that says how to fix it."""
    at = "2026-01-01T00:00:00+00:00"
    assert admin.post("/api/v1/models", json={"name": "fraud", "at": at}).status_code == 201
    clash = admin.post("/api/v1/models", json={"name": "Fraud", "at": at})
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "already_exists"
    assert "looks like the existing model 'fraud'" in clash.json()["error"]["message"]
    trailing = admin.post("/api/v1/models", json={"name": "other.", "at": at})
    assert trailing.status_code == 400 and "ends with '.'" in trailing.json()["error"]["message"]
    user = admin.post("/api/v1/users", json={"name": "Admin", "role": "reader"})
    assert user.status_code == 409 and "looks like the existing user 'admin'" in user.text
    spaced = admin.post("/api/v1/users", json={"name": "bob ", "role": "reader"})
    assert spaced.status_code == 400 and "ends with whitespace" in spaced.text
