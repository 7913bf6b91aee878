"""The SQL metadata store: SQLite and Postgres through SQLAlchemy Core, with Alembic migrations.

Modules: ``engine`` (URLs, connection settings, BEGIN IMMEDIATE on SQLite), ``schema`` and ``types``
(tables), ``migrate`` and ``migrations/`` (applied on open), ``runs``, ``values`` (params, metrics,
tags), ``tasks`` (tasks, artifacts, lineage), ``search`` (filters compiled to bound SQL), ``codec``
(rows <-> entities) and ``store`` (:class:`SqlMetadataStore`, one short transaction per method).
"""

from shipyard.metadata.sql.store import SqlMetadataStore

__all__ = ["SqlMetadataStore"]
