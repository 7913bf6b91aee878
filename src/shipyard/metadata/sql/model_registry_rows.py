"""Row-level helpers of :mod:`.model_registry_store`: each takes an open connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, literal, select, union_all

from shipyard.core.errors import AlreadyExistsError, NotFoundError
from shipyard.core.names import canonical_name, validate_alias_name, validate_model_name
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


_LOOKS_ALIKE = "differs by more than case, spacing or punctuation"


def model_row(conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
    query = select(registered_models).where(_M.name == name)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        similar = conn.execute(select(_M.name).where(_M.canonical == canonical_name(name))).scalar()
        hint = f"did you mean {similar!r}?" if similar is not None else "`shipyard models list` shows them"
        raise NotFoundError(f"no registered model {name!r}; {hint}")
    return row


def similar_alias(conn: Connection, name: str, alias: str) -> str | None:
    """The alias of model ``name`` that ``alias`` is a look-alike of (itself included), if any."""
    found = conn.execute(
        select(_A.alias).where(_A.model_name == name, _A.canonical == canonical_name(alias))
    ).scalar()
    return None if found is None else str(found)


def refuse_lookalike_alias(conn: Connection, name: str, alias: str) -> None:
    """AlreadyExistsError when model ``name`` has an alias that differs from ``alias`` only by
    case, spacing or punctuation (``Champion`` beside the protected ``champion``)."""
    similar = similar_alias(conn, name, alias)
    if similar is not None and similar != alias:
        raise AlreadyExistsError(
            f"alias {alias!r} of model {name!r} looks like its existing alias {similar!r}; "
            f"use that alias or pick one that {_LOOKS_ALIKE}"
        )


def insert_alias(
    conn: Connection, name: str, alias: str, version: int | None, *, protected: bool, user: str, at: datetime
) -> None:
    refuse_lookalike_alias(conn, name, validate_alias_name(alias, new=True))
    conn.execute(
        model_aliases.insert(),
        {
            "model_name": name,
            "alias": alias,
            "canonical": canonical_name(alias),
            "version": version,
            "protected": protected,
            "updated_by": user,
            "updated_at": at,
        },
    )


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
        project=row.project,
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


def insert_model(
    conn: Connection,
    name: str,
    *,
    user: str,
    at: datetime,
    description: str = "",
    project: str | None = None,
) -> bool:
    """Insert the model row (and its default protected aliases); False when it existed.

    AlreadyExistsError when another model's name differs from ``name`` only by case, spacing or
    punctuation (the unique ``canonical`` index; a racing insert waits for it, then sees it).
    A name being created must pass ``validate_model_name(new=True)``; an existing one (stored
    before that rule) still gets new versions."""
    canonical = canonical_name(name)
    stmt = insert_for(conn, registered_models).values(
        name=name,
        canonical=canonical,
        description=description,
        created_at=at,
        updated_at=at,
        created_by=user,
        last_version=0,
        project=project,
    )
    # no conflict target: a clash on the name or on its canonical form is answered below
    inserted = conn.execute(stmt.on_conflict_do_nothing().returning(_M.name)).first()
    if inserted is None:
        existing = conn.execute(select(_M.name).where(_M.canonical == canonical)).scalar()
        if existing is not None and existing != name:
            raise AlreadyExistsError(
                f"model {name!r} looks like the existing model {existing!r}; "
                f"use that name or pick one that {_LOOKS_ALIKE}"
            )
        return False
    validate_model_name(name, new=True)  # refusing rolls the insert back with the transaction
    for alias in DEFAULT_PROTECTED_ALIASES:
        insert_alias(conn, name, alias, None, protected=True, user=user, at=at)
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


def rename_model(conn: Connection, name: str, new_name: str, at: datetime) -> None:
    """Give the model ``name`` the name ``new_name``, with its versions, tags, aliases, alias
    history, lineage and reference profiles (foreign keys cascade deletes only, so the model and
    version rows are copied under the new name, the rows that point at them moved, the old rows
    deleted). AlreadyExistsError when another model has the name or a look-alike of it."""
    from sqlalchemy import delete, update

    from shipyard.metadata.sql.monitoring_schema import reference_profiles

    old = model_row(conn, name, lock=True)
    canonical = canonical_name(new_name)
    clash = conn.execute(select(_M.name).where(_M.canonical == canonical, _M.name != name)).scalar()
    if clash is not None:
        what = "" if clash == new_name else f" ({new_name!r} {_LOOKS_ALIKE} from it)"
        raise AlreadyExistsError(f"a registered model named {clash!r} already exists{what}")
    if conn.execute(select(_M.name).where(_M.name == new_name)).first() is not None:
        raise AlreadyExistsError(f"a registered model named {new_name!r} already exists")
    # the old row lets go of its canonical form first: a rename may change only the case
    conn.execute(update(registered_models).where(_M.name == name).values(canonical=f" {name}"[:250]))
    row = dict(old._mapping)
    conn.execute(
        registered_models.insert().values({**row, "name": new_name, "canonical": canonical, "updated_at": at})
    )
    copied = [c for c in model_versions.c if c.name != "model_name"]
    conn.execute(
        model_versions.insert().from_select(
            ["model_name", *(c.name for c in copied)],
            select(literal(new_name), *copied).where(_V.model_name == name),
        )
    )
    for table in (
        registered_model_tags,
        model_version_tags,
        model_version_lineage,
        model_aliases,
        model_alias_history,
        reference_profiles,
    ):
        conn.execute(update(table).where(table.c.model_name == name).values(model_name=new_name))
    conn.execute(delete(model_versions).where(_V.model_name == name))
    conn.execute(delete(registered_models).where(_M.name == name))
