"""Canonical names: ``registered_models``, ``model_aliases`` and ``users`` get a ``canonical`` column
(:func:`shipyard.core.names.canonical_name` of the name) with a unique index (per model for
aliases), so look-alikes (``fraud``, ``Fraud``, ``fraud.``) can no longer sit side by side.

Existing rows are backfilled. When existing names already collide, the upgrade stops before it
changes anything, with a :class:`~shipyard.core.errors.ConflictError` that lists every group:
rename or delete all but one name of each (with the shipyard version that wrote them, or in SQL)
and open the database again. Nothing is merged silently.

The column is added with ``DEFAULT ''`` (SQLite cannot add a NOT NULL column without one and
cannot drop a default without copying the table, which would cascade-delete the rows that
reference it); the stores always write the real value, and on Postgres the default is dropped.

Revision ID: 0006_canonical_names
Revises: 0005_metric_chunks
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

from shipyard.core.errors import ConflictError
from shipyard.core.names import canonical_name

revision = "0006_canonical_names"
down_revision = "0005_metric_chunks"
branch_labels = None
depends_on = None


class _Names(NamedTuple):
    table: str
    scope: tuple[str, ...]  # names are unique within these columns' values (per model for aliases)
    name: str  # the column that holds the name
    label: str  # how the error message calls a group of them


_TABLES = (
    _Names("registered_models", (), "name", "registered models"),
    _Names("model_aliases", ("model_name",), "alias", "aliases"),
    _Names("users", (), "name", "users"),
)


def _rows(conn: sa.Connection, names: _Names) -> list[tuple[tuple[str, ...], str]]:
    table = sa.table(names.table, *(sa.column(c) for c in (*names.scope, names.name)))
    query = sa.select(*(table.c[c] for c in (*names.scope, names.name)))
    return [(tuple(str(v) for v in row[:-1]), str(row[-1])) for row in conn.execute(query)]


def _collisions(names: _Names, rows: list[tuple[tuple[str, ...], str]]) -> list[str]:
    groups: dict[tuple[tuple[str, ...], str], list[str]] = defaultdict(list)
    for scope, name in rows:
        groups[(scope, canonical_name(name))].append(name)
    found = []
    for (scope, _), members in sorted(groups.items()):
        if len(members) > 1:
            where = f" of model {scope[0]!r}" if scope else ""
            found.append(f"{names.label} {', '.join(repr(m) for m in sorted(members))}{where}")
    return found


def upgrade() -> None:
    conn = op.get_bind()
    rows = {names.table: _rows(conn, names) for names in _TABLES}
    problems = [text for names in _TABLES for text in _collisions(names, rows[names.table])]
    if problems:
        raise ConflictError(
            "cannot upgrade the metadata database to schema 0006_canonical_names: "
            f"{'; '.join(problems)} differ only by case, width, spacing or punctuation; "
            "rename or delete all but one of each with the previous shipyard version (or in SQL), "
            "then open the database again"
        )
    for names in _TABLES:
        op.add_column(
            names.table, sa.Column("canonical", sa.String(length=250), nullable=False, server_default="")
        )
        table = sa.table(names.table, *(sa.column(c) for c in (*names.scope, names.name, "canonical")))
        keys = (*names.scope, names.name)
        update = (
            sa.update(table)
            .where(*(table.c[k] == sa.bindparam(f"k_{k}") for k in keys))
            .values(canonical=sa.bindparam("v_canonical"))
        )
        params = [
            {
                **{f"k_{k}": v for k, v in zip(keys, (*scope, name), strict=True)},
                "v_canonical": canonical_name(name),
            }
            for scope, name in rows[names.table]
        ]
        if params:
            conn.execute(update, params)
        if conn.dialect.name != "sqlite":
            op.alter_column(names.table, "canonical", server_default=None)
        op.create_index(
            op.f(f"ix_{names.table}_{'_'.join((*names.scope, 'canonical'))}"),
            names.table,
            [*names.scope, "canonical"],
            unique=True,
        )


def downgrade() -> None:
    for names in reversed(_TABLES):
        op.drop_index(
            op.f(f"ix_{names.table}_{'_'.join((*names.scope, 'canonical'))}"), table_name=names.table
        )
        op.drop_column(names.table, "canonical")
