"""The password column of the security store (revision 0009_login) on SQLite and Postgres: only the
hash is kept, only ``password_of`` reads it, and ``User`` never carries it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest

from shipyard.core.clock import utcnow
from shipyard.core.errors import NotFoundError
from shipyard.metadata import open_metadata_store
from shipyard.metadata.security import SecurityStore, User, open_security_store
from shipyard.security.passwords import hash_password, verify_password
from tests.contract.conftest import postgres_schema

__all__ = ["postgres_schema"]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SecurityStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'p.db'}"
    else:
        uri, _ = request.getfixturevalue("postgres_schema")
    metadata = open_metadata_store(uri)
    try:
        yield open_security_store(metadata)
    finally:
        metadata.close()


def test_set_and_read_a_password_hash(store: SecurityStore) -> None:
    store.create_user("ann", utcnow())
    assert store.password_of("ann") == (store.get_user("ann"), None)
    assert store.password_of("nobody") is None
    stored = hash_password("a long enough password")
    store.set_password("ann", stored)
    found = store.password_of("ann")
    assert found is not None and found[1] == stored
    assert verify_password(found[1], "a long enough password") == (True, None)
    assert "password" not in {f.name for f in fields(User)}  # listings can never leak it
    assert all(not hasattr(u, "password_hash") for u in store.list_users())
    store.set_password("ann", None)
    assert store.password_of("ann") == (store.get_user("ann"), None)
    with pytest.raises(NotFoundError, match="'nobody' does not exist"):
        store.set_password("nobody", stored)
