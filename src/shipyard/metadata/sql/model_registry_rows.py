"""Row-level helpers of :mod:`.model_registry_store`: each takes an open connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, literal, select, union_all

from shipyard.core.errors import NotFoundError
from shipyard.metadata.model_registry import (
    DEFAULT_PROTECTED_ALIASES,
    AliasEvent,
    LineageRecord,
    ModelVersion,
    ModelVersionCreate,
    RegisteredModel,
)
from shipyard.metadata.sql.dialect import insert_for
from shipyard.metadata.sql.model_registry_schema import (
    model_alias_history,
    model_aliases,
    model_version_lineage,
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
)

_M = registered_models.c
_V = model_versions.c
_A = model_aliases.c


def model_row(conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
    query = select(registered_models).where(_M.name == name)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"no registered model {name!r}; `shipyard models list` shows them")
    return row


def load_model(conn: Connection, row: Row[Any]) -> RegisteredModel:
    tag_rows = conn.execute(
        select(registered_model_tags.c.key, registered_model_tags.c.value).where(
            registered_model_tags.c.model_name == row.name
        )
    )
    tags = {str(key): str(value) for key, value in tag_rows}
    aliases: dict[str, int] = {}
    protected: list[str] = []
    for alias, version, is_protected in conn.execute(
        select(_A.alias, _A.version, _A.protected).where(_A.model_name == row.name).order_by(_A.alias)
    ):
        if version is not None:
            aliases[alias] = int(version)
        if is_protected:
            protected.append(alias)
    latest = conn.execute(
        select(_V.version).where(_V.model_name == row.name).order_by(_V.version.desc()).limit(1)
    ).scalar()
    return RegisteredModel(
        name=row.name,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
        tags=tags,
        latest_version=int(latest) if latest is not None else None,
        aliases=aliases,
        protected_aliases=tuple(protected),
    )


def version_row(conn: Connection, name: str, version: int, *, lock: bool = False) -> Row[Any]:
    query = select(model_versions).where(_V.model_name == name, _V.version == version)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        model_row(conn, name)
        raise NotFoundError(
            f"model {name!r} has no version {version}; `shipyard models show {name}` lists its versions"
        )
    return row


def _only(column: Any, keys: set[tuple[str, int]]) -> list[Any]:
    """A filter on the version numbers when the rows are of one model: loading one version of a
    model with thousands must not read every version's tags and aliases."""
    if len({name for name, _ in keys}) != 1 or len(keys) > 500:
        return []
    return [column.in_(sorted(version for _, version in keys))]


def load_versions(conn: Connection, rows: Sequence[Row[Any]]) -> list[ModelVersion]:
    if not rows:
        return []
    keys = {(r.model_name, int(r.version)) for r in rows}
    names = sorted({k[0] for k in keys})
    tags: dict[tuple[str, int], dict[str, str]] = {k: {} for k in keys}
    aliases: dict[tuple[str, int], list[str]] = {k: [] for k in keys}
    _T = model_version_tags.c
    tag_rows = select(literal("tag"), _T.model_name, _T.version, _T.key, _T.value).where(
        _T.model_name.in_(names), *_only(_T.version, keys)
    )
    alias_rows = select(literal("alias"), _A.model_name, _A.version, _A.alias, _A.alias).where(
        _A.model_name.in_(names), _A.version.is_not(None), *_only(_A.version, keys)
    )
    # one round trip for both (loading a model resolves its version on every load)
    for kind, model_name, version, key, value in conn.execute(union_all(tag_rows, alias_rows)):
        where = (model_name, int(version))
        if kind == "tag" and where in tags:
            tags[where][key] = value
        elif kind == "alias" and where in aliases:
            aliases[where].append(key)
    for found in aliases.values():
        found.sort()
    keyed = [(r, (r.model_name, int(r.version))) for r in rows]
    return [version_from(r._mapping, tags[key], aliases[key]) for r, key in keyed]


def version_from(row: Mapping[Any, Any], tags: dict[str, str], aliases: Sequence[str]) -> ModelVersion:
    """A ``model_versions`` row (decoded) with its tags and sorted aliases as a :class:`ModelVersion`."""
    return ModelVersion(
        model_name=row["model_name"],
        version=int(row["version"]),
        package_digest=row["package_digest"],
        package_size=int(row["package_size"]),
        flavor=row["flavor"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        run_id=row["run_id"],
        task_id=row["task_id"],
        artifact_id=row["artifact_id"],
        artifact_name=row["artifact_name"],
        signature=dict(row["signature"] or {}),
        description=row["description"],
        unsafe=bool(row["unsafe"]),
        approved=bool(row["approved"]),
        approved_by=row["approved_by"],
        approved_at=row["approved_at"],
        tags=tags,
        aliases=tuple(aliases),
    )


def record_event(
    conn: Connection,
    name: str,
    alias: str,
    *,
    action: str,
    old: int | None,
    new: int | None,
    user: str,
    at: datetime,
) -> AliasEvent:
    conn.execute(
        model_alias_history.insert(),
        {
            "model_name": name,
            "alias": alias,
            "action": action,
            "old_version": old,
            "new_version": new,
            "user": user,
            "at": at,
        },
    )
    return AliasEvent(name, alias, action, old, new, user, at)


def insert_model(conn: Connection, name: str, *, user: str, at: datetime, description: str = "") -> bool:
    """Insert the model row (and its default protected aliases); False when it existed."""
    stmt = insert_for(conn, registered_models).values(
        name=name, description=description, created_at=at, updated_at=at, created_by=user, last_version=0
    )
    inserted = conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]).returning(_M.name)).first()
    if inserted is None:
        return False
    conn.execute(
        model_aliases.insert(),
        [
            {
                "model_name": name,
                "alias": a,
                "version": None,
                "protected": True,
                "updated_by": user,
                "updated_at": at,
            }
            for a in DEFAULT_PROTECTED_ALIASES
        ],
    )
    return True


def alias_row(conn: Connection, name: str, alias: str) -> Row[Any] | None:
    return conn.execute(
        select(model_aliases).where(_A.model_name == name, _A.alias == alias).with_for_update()
    ).first()


def insert_version(conn: Connection, create: ModelVersionCreate, version: int) -> None:
    """Insert version ``version`` of ``create.model_name`` with its tags and lineage rows."""
    name = create.model_name
    conn.execute(
        model_versions.insert(),
        {
            "model_name": name,
            "version": version,
            "package_digest": create.package_digest,
            "package_size": create.package_size,
            "flavor": create.flavor,
            "run_id": create.run_id,
            "task_id": create.task_id,
            "artifact_id": create.artifact_id,
            "artifact_name": create.artifact_name,
            "signature": create.signature,
            "description": create.description,
            "unsafe": create.unsafe,
            "approved": False,
            "approved_by": None,
            "approved_at": None,
            "created_by": create.created_by,
            "created_at": create.created_at,
        },
    )
    if create.tags:
        conn.execute(
            model_version_tags.insert(),
            [{"model_name": name, "version": version, "key": k, "value": v} for k, v in create.tags.items()],
        )
    if create.lineage:
        conn.execute(
            model_version_lineage.insert(),
            [
                {
                    "model_name": name,
                    "version": version,
                    "artifact_id": rec.artifact_id,
                    "name": rec.name,
                    "digest": rec.digest,
                    "run_id": rec.run_id,
                    "task_id": rec.task_id,
                    "serializer": rec.serializer,
                    "depth": rec.depth,
                    "producer_step": rec.producer_step,
                }
                for rec in create.lineage
            ],
        )


def lineage_record(r: Row[Any]) -> LineageRecord:
    return LineageRecord(
        r.artifact_id, r.name, r.digest, r.run_id, r.task_id, r.serializer, int(r.depth), r.producer_step
    )
