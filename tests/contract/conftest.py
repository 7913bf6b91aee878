"""Fixtures for the metadata-store contract suite.

``metadata_uri`` yields a URI for an empty, private database of each backend; ``metadata_store``
opens it. To add a backend (e.g. REST), add a param to ``METADATA_BACKENDS`` and a branch to
``metadata_uri`` that starts it and yields its URI: every contract test then runs against it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shipyard.metadata import MetadataStore, open_metadata_store
from tests.services import require_postgres

METADATA_BACKENDS = ["sqlite", "postgres", "rest"]
#: the backends of the flow-run path's operations (runs, tasks, artifact records, lineage,
#: statuses): the above plus the stdlib SQLite store of ``shipyard run``
#: (:class:`~shipyard.metadata.sqlite_store.SqliteRunStore`); the modules testing those
#: operations take ``metadata_store`` from :func:`run_path_store` (``metadata_store = run_path_store``)
RUN_PATH_BACKENDS = [*METADATA_BACKENDS, "sqlite-stdlib"]


def _plain_pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def postgres_schema_uri(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def _postgres_schema() -> Iterator[tuple[str, str]]:
    import psycopg

    base = require_postgres()
    schema = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_plain_pg(base), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_schema_uri(base, schema), schema
    finally:
        with psycopg.connect(_plain_pg(base), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_schema() -> Iterator[tuple[str, str]]:
    """(uri, schema): a fresh Postgres schema that the URI's connections use; dropped afterwards."""
    with _postgres_schema() as found:
        yield found


@contextmanager
def _backend_uri(backend: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{root / 'metadata' / 'shipyard.db'}"
    elif backend == "postgres":
        with _postgres_schema() as (uri, _):
            yield uri
    elif backend == "rest":  # a real server on loopback over a fresh SQLite file
        from tests.server.live import live_server

        with live_server(root) as server:
            monkeypatch.setenv("SHIPYARD_TOKEN", server.token)  # subprocesses inherit it
            yield server.url
    else:  # pragma: no cover - a new backend needs a branch here
        raise AssertionError(f"no fixture for backend {backend!r}")


@pytest.fixture(params=METADATA_BACKENDS)
def metadata_uri(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    with _backend_uri(request.param, tmp_path, monkeypatch) as uri:
        yield uri


@pytest.fixture
def metadata_store(metadata_uri: str) -> Iterator[MetadataStore]:
    store = open_metadata_store(metadata_uri)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=RUN_PATH_BACKENDS)
def run_path_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MetadataStore]:
    """``metadata_store`` over :data:`RUN_PATH_BACKENDS`: ``sqlite-stdlib`` is the run path's
    SQLite store on a database the SQL store created (at the schema head, as it requires)."""
    if request.param != "sqlite-stdlib":
        with _backend_uri(request.param, tmp_path, monkeypatch) as uri:
            store = open_metadata_store(uri)
            try:
                yield store
            finally:
                store.close()
        return
    from shipyard.metadata.sqlite_store import SqliteRunStore

    uri = f"sqlite:///{tmp_path / 'metadata' / 'shipyard.db'}"
    open_metadata_store(uri).close()  # create the file and migrate it
    fast = SqliteRunStore.open(uri)
    assert fast is not None
    try:
        yield fast
    finally:
        fast.close()


@pytest.fixture(scope="module", params=METADATA_BACKENDS)
def module_metadata_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MetadataStore]:
    """One store per backend for a whole module, for tests that only read what the module's
    fixtures wrote (opening a fresh database per test costs migrations, a schema, a server)."""
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        _backend_uri(request.param, tmp_path_factory.mktemp("module-store"), monkeypatch) as uri,
    ):
        store = open_metadata_store(uri)
        try:
            yield store
        finally:
            store.close()
