"""The secrets key comes from typed settings (a key file wins over the variable); a missing or
malformed key is one line saying how to make one, and never echoes what it was given."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.core.errors import ConfigurationError
from shipyard.core.settings import load_settings
from shipyard.metadata import open_metadata_store
from shipyard.secrets import open_secrets_backend
from shipyard.secrets.crypto import MAKE_KEY, SecretKey, key_id, load_key
from tests.secrets.conftest import b64, new_key


def test_no_key_is_one_line_saying_how_to_make_one() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_key(load_settings())
    message = str(caught.value)
    assert "\n" not in message
    assert MAKE_KEY in message
    assert "SHIPYARD_SECRETS_KEY" in message and "SHIPYARD_SECRETS_KEY_FILE" in message


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = new_key()
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", b64(raw))
    settings = load_settings()
    assert load_key(settings).material == raw
    assert b64(raw) not in repr(settings) and b64(raw) not in str(settings.model_dump())
    assert b64(raw) not in repr(load_key(settings))


def test_a_key_file_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    in_file, in_env = new_key(), new_key()
    path = tmp_path / "secrets.key"
    path.write_text(b64(in_file) + "\n")
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", b64(in_env))
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY_FILE", str(path))
    assert load_key(load_settings()).key_id == key_id(in_file)


@pytest.mark.parametrize(
    ("text", "why"),
    [("not base64 at all!", "not base64"), (b64(os.urandom(16)), "holds 16 bytes, not 32")],
    ids=["not-base64", "16-bytes"],  # stable ids: pytest-xdist workers must collect the same tests
)
def test_a_malformed_key_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, text: str, why: str
) -> None:
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", text)
    with pytest.raises(ConfigurationError, match=why) as caught:
        load_key(load_settings())
    assert text not in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_key_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY_FILE", str(tmp_path / "nope.key"))
    with pytest.raises(ConfigurationError, match=r"cannot read the secrets key file .*nope\.key"):
        load_key(load_settings())


def test_key_ids_are_short_and_distinct() -> None:
    a, b = SecretKey(new_key()), SecretKey(new_key())
    assert len(a.key_id) == 16 and a.key_id != b.key_id
    with pytest.raises(ConfigurationError, match="32 bytes"):
        SecretKey(b"short")


def test_open_secrets_backend_needs_a_key_and_a_sql_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = open_metadata_store(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        with pytest.raises(ConfigurationError, match="no secrets key configured"):
            open_secrets_backend(load_settings(), store)
        monkeypatch.setenv("SHIPYARD_SECRETS_KEY", b64(new_key()))
        backend = open_secrets_backend(load_settings(), store)
        assert backend.list("fraud", "prod") == []
    finally:
        store.close()
    remote = open_metadata_store("http://127.0.0.1:9")  # a team server's store: not opened here
    try:
        with pytest.raises(ConfigurationError, match="kept by a shipyard server"):
            open_secrets_backend(load_settings(), remote)
    finally:
        remote.close()
