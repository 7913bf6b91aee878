"""Alembic environment for the shipyard metadata schema.

At runtime :mod:`shipyard.metadata.sql.migrate` passes an open connection in
``config.attributes["connection"]``. From the alembic CLI, pass the database URL with
``-x url=sqlite:///path.db`` (or set ``sqlalchemy.url``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from shipyard.metadata.sql.schema import metadata

VERSION_TABLE = "shipyard_schema_version"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite needs batch mode for most ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from shipyard.metadata.sql.engine import create_store_engine, normalize_url

    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("pass the database URL: alembic -x url=sqlite:///path.db ...")
    engine = create_store_engine(normalize_url(url))
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


_main()
