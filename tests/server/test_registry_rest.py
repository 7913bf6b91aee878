"""The registry-storage tests of ``tests/registry/test_registry_store.py``, run against the REST
backend (a real server on loopback): same numbering, races, aliases, errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.metadata import MetadataStore, open_metadata_store
from shipyard.metadata.model_registry import RegistryStore, open_registry_store
from shipyard.metadata.rest.registry import RestRegistryStore
from tests.registry.test_registry_store import (  # noqa: F401 - collected here, on the REST backend
    test_aliases_move_with_history_and_protection,
    test_create_model_twice_is_already_exists,
    test_delete_model_removes_everything,
    test_lineage_queries,
    test_racing_alias_moves_leave_a_consistent_history,
    test_racing_registrations_across_processes,
    test_racing_registrations_get_distinct_numbers,
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
