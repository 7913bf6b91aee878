"""Metadata backends by URI scheme.

``open_metadata_store("sqlite:///~/.shipyard/shipyard.db")`` or ``open_metadata_store("postgresql://...")``.
A new backend registers a factory with :func:`register_metadata_backend`; backends are imported lazily
inside their factory so that importing this module stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from shipyard.core.errors import ConfigurationError
from shipyard.metadata.base import MetadataStore

BackendFactory = Callable[[str], MetadataStore]


def _sql(uri: str) -> MetadataStore:
    from shipyard.metadata.sql import SqlMetadataStore

    return SqlMetadataStore(uri)


def _rest(uri: str) -> MetadataStore:
    """A shipyard server; the token comes from SHIPYARD_TOKEN (``settings.token``)."""
    from shipyard.metadata.rest.store import RestMetadataStore

    return RestMetadataStore(uri)


_BACKENDS: dict[str, BackendFactory] = {
    "sqlite": _sql,
    "postgresql": _sql,
    "postgres": _sql,
    "postgresql+psycopg": _sql,
    "http": _rest,
    "https": _rest,
}


def known_schemes() -> list[str]:
    return sorted(_BACKENDS)


def register_metadata_backend(scheme: str, factory: BackendFactory) -> None:
    """Make ``open_metadata_store`` use ``factory`` for URIs starting with ``<scheme>://``."""
    _BACKENDS[scheme.lower()] = factory


def open_metadata_store(uri: str, *, db_timeout_s: float | None = None) -> MetadataStore:
    """Open the metadata store that ``uri``'s scheme names (see :func:`known_schemes`);
    ``db_timeout_s`` bounds every database wait of the built-in SQL store (Settings.db_timeout_s)."""
    if not isinstance(uri, str) or not uri.strip():
        raise ConfigurationError("the metadata URI is empty; set SHIPYARD_URI, e.g. sqlite:///shipyard.db")
    scheme, sep, _ = uri.strip().partition(":")
    factory = _BACKENDS.get(scheme.lower()) if sep else None
    if factory is None:
        shown = uri if "@" not in uri else uri.split("://", 1)[0] + "://..."
        raise ConfigurationError(
            f"unknown metadata URI scheme {scheme.lower() if sep else ''!r} in {shown!r}; "
            f"known schemes: {', '.join(known_schemes())} (e.g. sqlite:///path/to/shipyard.db)"
        )
    if factory is _sql and db_timeout_s is not None:
        from shipyard.metadata.sql import SqlMetadataStore

        return SqlMetadataStore(uri.strip(), timeout_s=db_timeout_s)
    return factory(uri.strip())


def companion_store(metadata: MetadataStore, what: str, *, sql: str, rest: str) -> Any:
    """The store of ``what`` that lives beside ``metadata``: ``sql`` (a ``module:Class`` taking the
    SQL metadata store, same database and transactions) or ``rest`` (taking the REST store's HTTP
    session, same server). Imported lazily, so opening one costs nothing for the other."""
    from shipyard.metadata.sql.store import SqlMetadataStore

    metadata = metadata.backing_store()
    if isinstance(metadata, SqlMetadataStore):
        return _load(sql)(metadata)
    from shipyard.metadata.rest.store import RestMetadataStore

    if isinstance(metadata, RestMetadataStore):
        return _load(rest)(metadata.session)
    raise ConfigurationError(
        f"{what} is not available for a {type(metadata).__name__} metadata store; "
        "use a sqlite:///, postgresql:// or http(s):// SHIPYARD_URI"
    )


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
