"""The SecretsBackend contract, run against the local backend on SQLite and on Postgres: values round
trip, listings never carry values, a wrong key or a moved ciphertext fails clearly, rotation
re-encrypts everything, and no value is ever stored in clear."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from shipyard.core.errors import ConfigurationError, InvalidInputError, NotFoundError
from shipyard.metadata.sql import SqlMetadataStore
from shipyard.metadata.sql.secrets_schema import secrets
from shipyard.secrets import SecretDecryptionError
from shipyard.secrets.crypto import SecretKey, key_id
from shipyard.secrets.local import LocalSecretsBackend
from tests.secrets.conftest import new_key

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
VALUE = "pg-pass-7f3a9c1e-DO-NOT-LEAK"


def _everything_shown(info: object) -> str:
    return repr(info) + repr(dataclasses.asdict(info))  # type: ignore[call-overload]


def test_a_value_round_trips_and_each_write_counts(backend: LocalSecretsBackend) -> None:
    first = backend.set("fraud", "staging", "db", VALUE, by="alice", at=T0)
    assert (first.version, first.created_by, first.updated_by) == (1, "alice", "alice")
    assert backend.get("fraud", "staging", "db") == VALUE
    second = backend.set("fraud", "staging", "db", "other ✓ value", by="bob", at=T0 + timedelta(seconds=1))
    assert (second.version, second.created_by, second.updated_by) == (2, "alice", "bob")
    assert (second.created_at, second.updated_at) == (T0, T0 + timedelta(seconds=1))
    assert backend.get("fraud", "staging", "db") == "other ✓ value"
    assert backend.info("fraud", "staging", "db") == second
    # the same name in another environment or project is another secret
    with pytest.raises(NotFoundError, match="shipyard secrets list fraud production"):
        backend.get("fraud", "production", "db")
    with pytest.raises(NotFoundError):
        backend.get("churn", "staging", "db")


def test_listing_shows_metadata_never_values(backend: LocalSecretsBackend) -> None:
    for name in ("c", "a", "b", "d"):
        backend.set("fraud", "prod", name, f"{VALUE}-{name}", by="alice", at=T0)
    backend.set("fraud", "dev", "z", VALUE, by="alice", at=T0)
    listed = backend.list("fraud", "prod")
    assert [i.name for i in listed] == ["a", "b", "c", "d"]
    for info in listed:
        assert VALUE not in _everything_shown(info)
        assert "value" not in dataclasses.asdict(info)
    page1 = backend.list("fraud", "prod", limit=2)
    page2 = backend.list("fraud", "prod", limit=2, after=page1[-1].name)
    assert [i.name for i in page1 + page2] == ["a", "b", "c", "d"]
    assert backend.list("fraud", "prod", after="d") == []


def test_delete_removes_the_secret(backend: LocalSecretsBackend) -> None:
    backend.set("fraud", "prod", "db", VALUE, by="alice", at=T0)
    backend.delete("fraud", "prod", "db")
    with pytest.raises(NotFoundError):
        backend.get("fraud", "prod", "db")
    with pytest.raises(NotFoundError):
        backend.delete("fraud", "prod", "db")
    assert backend.list("fraud", "prod") == []


def test_a_wrong_key_fails_clearly(database: SqlMetadataStore, backend: LocalSecretsBackend) -> None:
    backend.set("fraud", "prod", "db", VALUE, by="alice", at=T0)
    other = LocalSecretsBackend(database, SecretKey(new_key()))
    with pytest.raises(SecretDecryptionError) as caught:
        other.get("fraud", "prod", "db")
    message = str(caught.value)
    assert "fraud/prod/db" in message
    assert backend.key_id in message and other.key_id in message
    assert "\n" not in message and VALUE not in message
    assert [i.name for i in other.list("fraud", "prod")] == ["db"]  # metadata needs no key


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(backend: LocalSecretsBackend) -> None:
    backend.set("fraud", "prod", "db", VALUE, by="alice", at=T0)
    backend.set("fraud", "dev", "db", "dev value", by="alice", at=T0)
    with backend._write() as conn:  # an attacker with write access to the table swaps rows
        row = conn.execute(
            select(secrets.c.nonce, secrets.c.ciphertext).where(
                secrets.c.project == "fraud", secrets.c.environment == "prod"
            )
        ).one()
        conn.execute(
            update(secrets)
            .where(secrets.c.environment == "dev")
            .values(nonce=row.nonce, ciphertext=row.ciphertext)
        )
    with pytest.raises(SecretDecryptionError, match="changed or belongs to another secret") as caught:
        backend.get("fraud", "dev", "db")
    assert VALUE not in str(caught.value)
    assert backend.get("fraud", "prod", "db") == VALUE


def test_a_changed_ciphertext_does_not_decrypt(backend: LocalSecretsBackend) -> None:
    backend.set("fraud", "prod", "db", VALUE, by="alice", at=T0)
    with backend._write() as conn:
        stored = conn.execute(select(secrets.c.ciphertext)).scalar_one()
        flipped = bytes([stored[0] ^ 1]) + bytes(stored[1:])
        conn.execute(update(secrets).values(ciphertext=flipped))
    with pytest.raises(SecretDecryptionError):
        backend.get("fraud", "prod", "db")


def test_each_write_uses_a_fresh_nonce(backend: LocalSecretsBackend) -> None:
    seen = set()
    for _ in range(3):
        backend.set("fraud", "prod", "db", VALUE, by="alice", at=T0)
        with backend._read() as conn:
            row = conn.execute(select(secrets.c.nonce, secrets.c.ciphertext, secrets.c.key_id)).one()
        assert len(row.nonce) == 12 and row.key_id == backend.key_id
        seen.add((bytes(row.nonce), bytes(row.ciphertext)))
    assert len(seen) == 3


def test_rotation_reencrypts_every_row(database: SqlMetadataStore, key: bytes) -> None:
    backend = LocalSecretsBackend(database, SecretKey(key))
    values = {("fraud", "prod", "db"): VALUE, ("fraud", "dev", "db"): "dev", ("churn", "prod", "api"): "k"}
    for (project, env, name), value in values.items():
        backend.set(project, env, name, value, by="alice", at=T0)
    before = backend.info("fraud", "prod", "db")
    newer = new_key()
    assert backend.rotate_key(key, newer) == 3
    assert backend.key_id == key_id(newer)
    for (project, env, name), value in values.items():
        assert backend.get(project, env, name) == value  # the backend now uses the new key
        assert LocalSecretsBackend(database, SecretKey(newer)).get(project, env, name) == value
    assert backend.info("fraud", "prod", "db") == before  # rotation changes no value, no version
    with pytest.raises(SecretDecryptionError):
        LocalSecretsBackend(database, SecretKey(key)).get("fraud", "prod", "db")
    with database._read() as conn:
        assert set(conn.execute(select(secrets.c.key_id)).scalars()) == {key_id(newer)}
    assert backend.rotate_key(key, newer) == 0  # running it again is harmless


def test_rotation_with_a_key_that_fits_no_row_changes_nothing(database: SqlMetadataStore, key: bytes) -> None:
    backend = LocalSecretsBackend(database, SecretKey(key))
    backend.set("fraud", "prod", "db", VALUE, by="alice", at=T0)
    stranger, newer = new_key(), new_key()
    with pytest.raises(ConfigurationError, match="neither the old key"):
        backend.rotate_key(stranger, newer)
    assert backend.get("fraud", "prod", "db") == VALUE  # still the old key, row untouched


def test_names_are_checked_and_values_bounded(backend: LocalSecretsBackend) -> None:
    for project, env, name in [
        ("Fraud", "prod", "db"),
        ("fraud", "prod ", "db"),
        ("fraud", "prod", "DB"),
        ("fraud", "prod", "db-pass"),
        ("fraud", "prod", "../db"),
        ("fraud/x", "prod", "db"),
    ]:
        with pytest.raises(InvalidInputError, match="invalid"):
            backend.set(project, env, name, VALUE, by="alice", at=T0)
    with pytest.raises(InvalidInputError, match="must not be empty"):
        backend.set("fraud", "prod", "db", "", by="alice", at=T0)
    with pytest.raises(InvalidInputError, match="at most 65536 bytes") as caught:
        backend.set("fraud", "prod", "db", "x" * 70_000, by="alice", at=T0)
    assert "xxxx" not in str(caught.value)
    assert backend.list("fraud", "prod") == []


def test_no_value_is_stored_in_clear(tmp_path: Path) -> None:
    from shipyard.metadata import open_metadata_store

    folder = tmp_path / "plain"
    store = open_metadata_store(f"sqlite:///{folder / 'shipyard.db'}")
    assert isinstance(store, SqlMetadataStore)
    backend = LocalSecretsBackend(store, SecretKey(new_key()))
    for i in range(20):
        backend.set("fraud", "prod", f"s{i}", f"{VALUE}-{i}", by="alice", at=T0)
    backend.set("fraud", "prod", "s0", f"{VALUE}-again", by="alice", at=T0)
    assert backend.get("fraud", "prod", "s3") == f"{VALUE}-3"
    raw = b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())  # db, -wal, -shm
    store.close()
    raw += b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())  # after checkpoint
    assert b"s19" in raw  # the names are there in clear: the scan sees the table's rows
    for needle in (VALUE, "pg-pass", "DO-NOT-LEAK"):
        assert needle.encode() not in raw
        assert needle.encode("utf-16-le") not in raw
