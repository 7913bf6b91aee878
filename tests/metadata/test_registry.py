"""Choosing a metadata backend by URI, and what users see when that goes wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.core.errors import ConfigurationError
from shipyard.metadata import MetadataStore, open_metadata_store
from shipyard.metadata.registry import known_schemes, register_metadata_backend
from shipyard.metadata.sql import SqlMetadataStore
from shipyard.metadata.sql.engine import normalize_url


def test_sqlite_uri_opens_a_sql_store_and_creates_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "shipyard.db"
    store = open_metadata_store(f"sqlite:///{path}")
    try:
        assert isinstance(store, SqlMetadataStore)
        assert path.exists()
    finally:
        store.close()


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        open_metadata_store("mysql://u@h/db")
    message = str(info.value)
    assert "'mysql'" in message
    for scheme in ("sqlite", "postgresql", "postgres", "http", "https"):
        assert scheme in message
    with pytest.raises(ConfigurationError, match="known schemes"):
        open_metadata_store("/just/a/path.db")
    with pytest.raises(ConfigurationError, match="empty"):
        open_metadata_store("")


def test_http_schemes_are_registered_for_the_rest_backend() -> None:
    assert {"http", "https"} <= set(known_schemes())


def test_unknown_scheme_error_hides_credentials() -> None:
    with pytest.raises(ConfigurationError) as info:
        open_metadata_store("mysql://user:secret@host/db")
    assert "secret" not in str(info.value)


def test_register_a_backend() -> None:
    opened: list[str] = []

    def factory(uri: str) -> MetadataStore:
        opened.append(uri)
        raise ConfigurationError("fake backend")

    register_metadata_backend("fake-test", factory)
    assert "fake-test" in known_schemes()
    with pytest.raises(ConfigurationError, match="fake backend"):
        open_metadata_store("fake-test://x")
    assert opened == ["fake-test://x"]


@pytest.mark.parametrize(
    ("uri", "driver"),
    [
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite+pysqlite"),
    ],
)
def test_urls_are_normalized_to_our_drivers(uri: str, driver: str) -> None:
    assert normalize_url(uri).drivername == driver


def test_unreachable_postgres_is_a_one_line_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        open_metadata_store("postgresql://someone:hunter2@127.0.0.1:1/nope")
    message = str(info.value)
    assert "\n" not in message
    assert "cannot open the metadata database at postgresql+psycopg://someone:***@127.0.0.1:1/nope" in message
    assert "check that the server is running" in message
    assert "hunter2" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_importing_the_interface_and_registry_does_not_import_sqlalchemy() -> None:
    code = (
        "import sys, shipyard.metadata, shipyard.metadata.base, shipyard.metadata.registry;"
        "print('sqlalchemy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_unwritable_sqlite_location_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigurationError, match="cannot create the folder"):
        open_metadata_store(f"sqlite:///{blocker / 'sub' / 'x.db'}")


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_every_postgres_scheme_opens_the_database(postgres_schema: tuple[str, str], scheme: str) -> None:
    uri, _ = postgres_schema
    store = open_metadata_store(scheme + "://" + uri.split("://", 1)[1])
    try:
        assert isinstance(store, SqlMetadataStore)
        assert store.search_runs().runs == []
    finally:
        store.close()


def test_sqlite_home_relative_path_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert normalize_url("sqlite:///~/dbs/s.db").database == str(tmp_path / "dbs" / "s.db")
    assert normalize_url("sqlite://").database is None
