from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.settings import load_settings
from shipyard.metadata import MetadataStore, open_metadata_store
from shipyard.metadata.model_registry import RegistryStore, open_registry_store
from shipyard.tracking import fluent
from shipyard.tracking.stores import Stores, open_stores
from tests.services import require_postgres


@pytest.fixture(scope="session")
def breast_cancer() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="session")
def sk_pipeline(breast_cancer: tuple[Any, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = breast_cancer
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)


REGISTRY_BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def _pg_schema_uri() -> Iterator[str]:
    """A private Postgres schema for one test, dropped afterwards."""
    import psycopg

    base = require_postgres()
    plain = base.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"shipyard_reg_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=REGISTRY_BACKENDS)
def metadata_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta' / 'shipyard.db'}"
    return str(request.getfixturevalue("_pg_schema_uri"))


@pytest.fixture
def metadata_store(metadata_uri: str) -> Iterator[MetadataStore]:
    store = open_metadata_store(metadata_uri)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def registry_store(metadata_store: MetadataStore) -> RegistryStore:
    return open_registry_store(metadata_store)


@pytest.fixture
def stores() -> Iterator[Stores]:
    """Real stores (SQLite + local folder) in the per-test SHIPYARD_HOME."""
    opened = open_stores(load_settings(user="alice"))
    yield opened
    opened.close()


@pytest.fixture
def sdk(stores: Stores) -> Iterator[Stores]:
    """The fluent API bound to ``stores``; reset afterwards."""
    fluent.reset()
    fluent.set_stores(stores)
    yield stores
    fluent.reset()
