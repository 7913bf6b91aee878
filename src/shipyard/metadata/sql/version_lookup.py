"""The model-loading path's version lookup: SQL compiled once per dialect, run on the driver.

Every ``load_model("models:/NAME/N")`` and ``("models:/NAME@ALIAS")`` (and every ``shipyard serve``
start) resolves one version. Building and compiling the same ``select`` each time cost more than
the queries themselves (about 1.5 ms of a 4 ms load on a cold CPU), so the statements are built
from the schema's tables once per dialect, compiled by SQLAlchemy, and executed with
``exec_driver_sql``; the columns are decoded with the tables' own result processors, so a value
reads back exactly as through :func:`sqlalchemy.select`. Values are always bound, never formatted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Connection, Dialect, bindparam, literal, select, union_all
from sqlalchemy.sql.compiler import SQLCompiler

from shipyard.metadata.model_registry import ModelVersion
from shipyard.metadata.sql.model_registry_rows import version_from
from shipyard.metadata.sql.model_registry_schema import (
    model_aliases,
    model_version_tags,
    model_versions,
    registered_models,
)

_V = model_versions.c
_A = model_aliases.c
_T = model_version_tags.c


@dataclass(frozen=True)
class _Statement:
    sql: str
    order: tuple[str, ...] | None  # parameter names in placeholder order (positional paramstyles)
    decoders: tuple[Callable[[Any], Any] | None, ...]  # per result column
    constants: Mapping[str, Any]  # the statement's own bound values (its literals)

    def run(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        values = {**self.constants, **params}
        bound: Any = tuple(values[name] for name in self.order) if self.order is not None else values
        rows = conn.exec_driver_sql(self.sql, bound).all()
        if not any(self.decoders):
            return [tuple(r) for r in rows]
        return [
            tuple(v if d is None or v is None else d(v) for v, d in zip(r, self.decoders, strict=True))
            for r in rows
        ]


def _statement(dialect: Dialect, stmt: Any) -> _Statement:
    compiled = stmt.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    decoders = tuple(column.type._cached_result_processor(dialect, None) for column in stmt.selected_columns)
    order = tuple(compiled.positiontup or ()) if compiled.positional else None
    constants = {k: v for k, v in compiled.params.items() if v is not None}
    return _Statement(compiled.string, order, decoders, constants)


@functools.lru_cache(maxsize=8)
def _statements(dialect: Dialect) -> dict[str, _Statement]:
    name: BindParameter[str] = bindparam("name")
    version: BindParameter[int] = bindparam("version")
    alias: BindParameter[str] = bindparam("alias")
    return {
        "version": _statement(
            dialect, select(model_versions).where(_V.model_name == name, _V.version == version)
        ),
        "labels": _statement(
            dialect,
            union_all(
                select(literal("tag"), _T.key, _T.value).where(_T.model_name == name, _T.version == version),
                select(literal("alias"), _A.alias, _A.alias).where(
                    _A.model_name == name, _A.version == version
                ),
            ),
        ),
        "alias": _statement(
            dialect,
            select(registered_models.c.name, _A.version)
            .select_from(
                registered_models.outerjoin(
                    model_aliases, (_A.model_name == registered_models.c.name) & (_A.alias == alias)
                )
            )
            .where(registered_models.c.name == name),
        ),
    }


def find_version(conn: Connection, name: str, version: int) -> ModelVersion | None:
    """Version ``version`` of model ``name`` with its tags and aliases; None if there is none."""
    statements = _statements(conn.dialect)
    params = {"name": name, "version": version}
    found = statements["version"].run(conn, params)
    if not found:
        return None
    row = dict(zip(model_versions.c.keys(), found[0], strict=True))
    tags: dict[str, str] = {}
    aliases: list[str] = []
    for kind, key, value in statements["labels"].run(conn, params):
        if kind == "tag":
            tags[key] = value
        else:
            aliases.append(key)
    return version_from(row, tags, sorted(aliases))


def alias_target(conn: Connection, name: str, alias: str) -> tuple[bool, int | None]:
    """(does model ``name`` exist, the version ``alias`` points at or None)."""
    found = _statements(conn.dialect)["alias"].run(conn, {"name": name, "alias": alias})
    if not found:
        return False, None
    version = found[0][1]
    return True, None if version is None else int(version)
