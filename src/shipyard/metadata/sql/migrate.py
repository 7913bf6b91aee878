"""Apply the Alembic migrations programmatically (no alembic.ini needed at runtime).

:func:`ensure_schema` runs when a store opens: one cheap read when the schema is current; otherwise
it takes a write lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on Postgres), checks again and
upgrades, so two processes opening a new database at once are fine. A database whose revision this
code does not know (written by a newer shipyard) raises :class:`SchemaVersionError`.

A new, empty SQLite database gets the migrated schema by replaying a template: the migrations run
once per process on an in-memory database and its dump (DDL, version row, any seeded rows) is
executed in the new file's write transaction. SQLite's ALTERs rebuild whole tables (batch mode), so
this turns ~20 migrations per new database into one pass of ``CREATE`` statements; the result is
the same database (``tests/metadata/test_migrations.py`` compares the two dumps).

Developers create a new revision with the alembic CLI from this folder's ``migrations`` directory::

    alembic -c /dev/null -x url=sqlite:///dev.db revision --autogenerate -m "..."  # see migrations/env.py
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, exc, text

from shipyard.core.errors import SchemaVersionError
from shipyard.metadata.schema_heads import MIGRATIONS_DIR, VERSION_TABLE, declared_heads
from shipyard.metadata.sql.engine import UNBOUNDED, WRITE

__all__ = [
    "INITIAL_REVISION",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "alembic_config",
    "current_revisions",
    "declared_heads",
    "ensure_schema",
    "head_revisions",
    "script_directory",
    "sqlite_template",
]

INITIAL_REVISION = "0001_initial"
_PG_LOCK_KEY = 0x5_4159_0001  # pg_advisory_xact_lock key that serializes migrations

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory


def _stored_revisions(conn: Connection) -> tuple[str, ...] | None:
    """The revisions recorded in the version table by plain SQL; None when it does not exist."""
    try:
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    except exc.DBAPIError:
        conn.rollback()
        return None
    return tuple(sorted(str(r) for r in rows))


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revisions() -> tuple[str, ...]:
    return tuple(sorted(script_directory().get_heads()))


def current_revisions(conn: Connection) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return tuple(sorted(ctx.get_current_heads()))


def _check_known(revisions: Iterable[str], where: str) -> None:
    from alembic.script.revision import RevisionError
    from alembic.util.exc import CommandError

    script = script_directory()
    for rev in revisions:
        try:
            known = script.get_revision(rev) is not None
        except (CommandError, RevisionError):
            known = False
        if not known:
            heads = ", ".join(head_revisions())
            raise SchemaVersionError(
                f"database at {where} has schema revision {rev}, newer than this shipyard "
                f"(knows up to {heads}); upgrade shipyard"
            )


def ensure_schema(engine: Engine, where: str) -> None:
    """Bring the database to the newest schema this code knows; see the module doc."""
    with engine.connect() as conn:
        if _stored_revisions(conn) == declared_heads():
            return  # the common case: no alembic import at all
        current = current_revisions(conn)
    heads = head_revisions()
    _check_known(current, where)
    if current == heads:
        return
    with engine.connect().execution_options(**WRITE, **UNBOUNDED) as conn, conn.begin():
        if conn.dialect.name == "postgresql":  # a migration may wait and run as long as it needs
            conn.execute(text("SET LOCAL statement_timeout = 0"))
            conn.execute(text("SET LOCAL lock_timeout = 0"))
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = current_revisions(conn)  # another process may have migrated meanwhile
        _check_known(current, where)
        if current != heads:
            if not current and conn.dialect.name == "sqlite" and _sqlite_is_empty(conn):
                for statement in sqlite_template():
                    conn.exec_driver_sql(statement)
                return
            from alembic import command

            command.upgrade(alembic_config(conn), "heads")


def _sqlite_is_empty(conn: Connection) -> bool:
    return int(conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar_one()) == 0


@functools.cache
def sqlite_template() -> tuple[str, ...]:
    """The statements that build a fully migrated SQLite database: the dump of an in-memory
    database the migrations ran on (once per process; nothing is read from or written to disk)."""
    import sqlite3

    from alembic import command
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with engine.connect() as conn:
            with conn.begin():
                command.upgrade(alembic_config(conn), "heads")
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            dump = [line for line in raw.iterdump() if line not in ("BEGIN TRANSACTION;", "COMMIT;")]
    finally:
        engine.dispose()
    return tuple(dump)
