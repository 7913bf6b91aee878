"""Fixtures for the secrets tests: keys, and a local backend over each SQL database."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.metadata import open_metadata_store
from shipyard.metadata.sql import SqlMetadataStore
from shipyard.secrets.crypto import SecretKey
from shipyard.secrets.local import LocalSecretsBackend
from tests.contract.conftest import postgres_schema

__all__ = ["postgres_schema"]

BACKENDS = ["sqlite", "postgres"]


def new_key() -> bytes:
    return os.urandom(32)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'db' / 'shipyard.db'}"
    else:
        uri, _ = request.getfixturevalue("postgres_schema")
    store = open_metadata_store(uri)
    assert isinstance(store, SqlMetadataStore)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def key() -> bytes:
    return new_key()


@pytest.fixture
def backend(database: SqlMetadataStore, key: bytes) -> LocalSecretsBackend:
    return LocalSecretsBackend(database, SecretKey(key))
