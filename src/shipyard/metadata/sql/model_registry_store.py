"""``SqlRegistryStore``: the :class:`RegistryStore` on the SQL metadata store's database.

It borrows the :class:`SqlMetadataStore`'s transactions (same engine and pool, ``BEGIN IMMEDIATE``
writes on SQLite, the same error translation), so every method is one short transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, or_, select, update

from shipyard.core.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from shipyard.metadata.base import check_page
from shipyard.metadata.model_registry import (
    AliasEvent,
    LineageRecord,
    ModelVersion,
    ModelVersionCreate,
    RegisteredModel,
    RegistryStore,
)
from shipyard.metadata.sql import model_registry_rows as q
from shipyard.metadata.sql import version_lookup as lookup
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
from shipyard.metadata.sql.store import BorrowedTransactions

_M = registered_models.c
_V = model_versions.c
_A = model_aliases.c


def _version(conn: Connection, name: str, version: int) -> ModelVersion:
    """One version with its tags and aliases (the fast lookup), or the precise NotFoundError."""
    found = lookup.find_version(conn, name, version)
    if found is None:  # version_row raises the "no model" / "no version" error
        found = q.load_versions(conn, [q.version_row(conn, name, version)])[0]
    return found


def _page(query: Select[Any], limit: int | None, offset: int) -> Select[Any]:
    """``query`` (already in a total order) cut to one page; all of it when ``limit`` is None."""
    check_page(limit, offset)
    return query.limit(limit).offset(offset) if limit is not None or offset else query


def _did_you_mean(conn: Connection, name: str, alias: str) -> str:
    """`` (did you mean 'champion'?)`` when ``alias`` is a look-alike of an alias of the model."""
    similar = q.similar_alias(conn, name, alias)
    return f" (did you mean {similar!r}?)" if similar is not None and similar != alias else ""


class SqlRegistryStore(BorrowedTransactions, RegistryStore):
    # ---- models ------------------------------------------------------------------------------------
    def create_model(
        self,
        name: str,
        *,
        user: str,
        at: datetime,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> RegisteredModel:
        with self._write() as conn:
            if not q.insert_model(conn, name, user=user, at=at, description=description, project=project):
                raise AlreadyExistsError(f"a registered model named {name!r} already exists")
            if tags:
                conn.execute(
                    registered_model_tags.insert(),
                    [{"model_name": name, "key": k, "value": v} for k, v in tags.items()],
                )
            return q.load_model(conn, q.model_row(conn, name))

    def get_model(self, name: str) -> RegisteredModel:
        with self._read() as conn:
            return q.load_model(conn, q.model_row(conn, name))

    def list_models(
        self,
        prefix: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        hidden_projects: Sequence[str] = (),
    ) -> list[RegisteredModel]:
        query = select(registered_models).order_by(_M.name)  # the primary key: a total order
        if prefix:
            query = query.where(_M.name.startswith(prefix, autoescape=True))
        if hidden_projects:
            query = query.where(or_(_M.project.is_(None), _M.project.not_in(list(hidden_projects))))
        query = _page(query, limit, offset)
        with self._read() as conn:
            return [q.load_model(conn, row) for row in conn.execute(query).all()]

    def update_model(self, name: str, *, description: str, at: datetime) -> RegisteredModel:
        with self._write() as conn:
            q.model_row(conn, name)
            conn.execute(
                update(registered_models)
                .where(_M.name == name)
                .values(description=description, updated_at=at)
            )
            return q.load_model(conn, q.model_row(conn, name))

    def set_model_tags(self, name: str, tags: Mapping[str, str], at: datetime) -> None:
        with self._write() as conn:
            q.model_row(conn, name)
            for key, value in tags.items():
                stmt = insert_for(conn, registered_model_tags).values(model_name=name, key=key, value=value)
                conn.execute(
                    stmt.on_conflict_do_update(index_elements=["model_name", "key"], set_={"value": value})
                )
            conn.execute(update(registered_models).where(_M.name == name).values(updated_at=at))

    def rename_model(self, name: str, new_name: str, *, at: datetime) -> RegisteredModel:
        with self._write() as conn:
            if new_name == name:
                return q.load_model(conn, q.model_row(conn, name))
            q.rename_model(conn, name, new_name, at)
            return q.load_model(conn, q.model_row(conn, new_name))

    def delete_model_tag(self, name: str, key: str, at: datetime) -> None:
        with self._write() as conn:
            q.model_row(conn, name)
            t = registered_model_tags.c
            result = conn.execute(delete(registered_model_tags).where(t.model_name == name, t.key == key))
            if result.rowcount == 0:
                raise NotFoundError(f"registered model {name!r} has no tag {key!r}")
            conn.execute(update(registered_models).where(_M.name == name).values(updated_at=at))

    def delete_model(self, name: str) -> None:
        with self._write() as conn:
            q.model_row(conn, name)
            for table in (model_version_lineage, model_version_tags, model_alias_history, model_aliases):
                conn.execute(delete(table).where(table.c.model_name == name))
            conn.execute(delete(model_versions).where(_V.model_name == name))
            conn.execute(delete(registered_model_tags).where(registered_model_tags.c.model_name == name))
            conn.execute(delete(registered_models).where(_M.name == name))

    # ---- versions ----------------------------------------------------------------------------------
    def create_version(self, create: ModelVersionCreate) -> ModelVersion:
        name = create.model_name
        with self._write() as conn:
            q.insert_model(conn, name, user=create.created_by, at=create.created_at, project=create.project)
            # the counter UPDATE takes the model row's lock: concurrent registrations queue here
            conn.execute(
                update(registered_models)
                .where(_M.name == name)
                .values(last_version=_M.last_version + 1, updated_at=create.created_at)
            )
            version = int(conn.execute(select(_M.last_version).where(_M.name == name)).scalar_one())
            q.insert_version(conn, create, version)
            return _version(conn, name, version)

    def get_version(self, name: str, version: int) -> ModelVersion:
        with self._read() as conn:
            return _version(conn, name, version)

    def list_versions(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[ModelVersion]:
        query = _page(select(model_versions).where(_V.model_name == name).order_by(_V.version), limit, offset)
        with self._read() as conn:
            q.model_row(conn, name)
            rows = conn.execute(query).all()
            return q.load_versions(conn, rows)

    def delete_version(self, name: str, version: int) -> None:
        with self._write() as conn:
            q.version_row(conn, name, version)
            pointing = (
                conn.execute(
                    select(_A.alias).where(_A.model_name == name, _A.version == version).order_by(_A.alias)
                )
                .scalars()
                .all()
            )
            if pointing:
                raise ConflictError(
                    f"cannot delete {name} version {version}: alias(es) {', '.join(pointing)} point at it; "
                    "move or delete them first (`shipyard models alias`)"
                )
            for table in (model_version_lineage, model_version_tags):
                conn.execute(delete(table).where(table.c.model_name == name, table.c.version == version))
            conn.execute(delete(model_versions).where(_V.model_name == name, _V.version == version))

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> ModelVersion:
        with self._write() as conn:
            q.version_row(conn, name, version)
            t = model_version_tags.c
            for key, value in tags.items():
                stmt = insert_for(conn, model_version_tags).values(
                    model_name=name, version=version, key=key, value=value
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[t.model_name, t.version, t.key], set_={"value": value}
                    )
                )
            return _version(conn, name, version)

    def delete_version_tag(self, name: str, version: int, key: str) -> ModelVersion:
        with self._write() as conn:
            q.version_row(conn, name, version)
            t = model_version_tags.c
            result = conn.execute(
                delete(model_version_tags).where(t.model_name == name, t.version == version, t.key == key)
            )
            if result.rowcount == 0:
                raise NotFoundError(f"{name} version {version} has no tag {key!r}")
            return _version(conn, name, version)

    def set_approval(
        self, name: str, version: int, approved: bool, *, user: str, at: datetime
    ) -> ModelVersion:
        with self._write() as conn:
            q.version_row(conn, name, version, lock=True)
            if not approved:
                guarded = (
                    conn.execute(
                        select(_A.alias).where(
                            _A.model_name == name, _A.version == version, _A.protected.is_(True)
                        )
                    )
                    .scalars()
                    .all()
                )
                if guarded:
                    raise ConflictError(
                        f"cannot revoke approval of {name} version {version}: protected alias(es) "
                        f"{', '.join(sorted(guarded))} point at it; move them first"
                    )
            conn.execute(
                update(model_versions)
                .where(_V.model_name == name, _V.version == version)
                .values(
                    approved=approved,
                    approved_by=user if approved else None,
                    approved_at=at if approved else None,
                )
            )
            return _version(conn, name, version)

    # ---- aliases -----------------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int, *, user: str, at: datetime) -> AliasEvent:
        with self._write() as conn:
            q.model_row(conn, name, lock=True)
            target = q.version_row(conn, name, version, lock=True)
            current = q.alias_row(conn, name, alias)
            if current is not None and current.protected and not target.approved:
                raise ConflictError(
                    f"alias {alias!r} of {name} is protected: version {version} must be approved first "
                    f"(`shipyard models approve {name} {version}`)"
                )
            old = current.version if current is not None else None
            if current is None:
                q.insert_alias(conn, name, alias, version, protected=False, user=user, at=at)
            else:
                conn.execute(
                    update(model_aliases)
                    .where(_A.model_name == name, _A.alias == alias)
                    .values(version=version, updated_by=user, updated_at=at)
                )
            return q.record_event(conn, name, alias, action="set", old=old, new=version, user=user, at=at)

    def delete_alias(self, name: str, alias: str, *, user: str, at: datetime) -> AliasEvent:
        with self._write() as conn:
            q.model_row(conn, name)
            current = q.alias_row(conn, name, alias)
            if current is None or current.version is None:
                raise NotFoundError(
                    f"model {name!r} has no alias {alias!r}{_did_you_mean(conn, name, alias)}"
                )
            if current.protected:  # keep the protection, drop the pointer
                conn.execute(
                    update(model_aliases)
                    .where(_A.model_name == name, _A.alias == alias)
                    .values(version=None, updated_by=user, updated_at=at)
                )
            else:
                conn.execute(delete(model_aliases).where(_A.model_name == name, _A.alias == alias))
            return q.record_event(
                conn, name, alias, action="delete", old=current.version, new=None, user=user, at=at
            )

    def protect_alias(self, name: str, alias: str, protected: bool, *, user: str, at: datetime) -> AliasEvent:
        with self._write() as conn:
            q.model_row(conn, name)
            current = q.alias_row(conn, name, alias)
            version = current.version if current is not None else None
            if protected and version is not None and not q.version_row(conn, name, version).approved:
                raise ConflictError(
                    f"alias {alias!r} points at {name} version {version}, which is not approved; "
                    "approve it or move the alias before protecting it"
                )
            if current is None:
                q.insert_alias(conn, name, alias, None, protected=protected, user=user, at=at)
            elif not protected and version is None:
                conn.execute(delete(model_aliases).where(_A.model_name == name, _A.alias == alias))
            else:
                conn.execute(
                    update(model_aliases)
                    .where(_A.model_name == name, _A.alias == alias)
                    .values(protected=protected, updated_by=user, updated_at=at)
                )
            action = "protect" if protected else "unprotect"
            return q.record_event(
                conn, name, alias, action=action, old=version, new=version, user=user, at=at
            )

    def resolve_alias(self, name: str, alias: str) -> ModelVersion:
        with self._read() as conn:
            exists, version = lookup.alias_target(conn, name, alias)
            if not exists:
                q.model_row(conn, name)  # raises the "no registered model" error
            if version is None:
                known = (
                    conn.execute(
                        select(_A.alias)
                        .where(_A.model_name == name, _A.version.is_not(None))
                        .order_by(_A.alias)
                    )
                    .scalars()
                    .all()
                )
                raise NotFoundError(
                    f"model {name!r} has no alias {alias!r}{_did_you_mean(conn, name, alias)}; "
                    f"its aliases: {', '.join(known) or '(none)'}"
                )
            return _version(conn, name, int(version))

    def alias_history(
        self, name: str, alias: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[AliasEvent]:
        h = model_alias_history.c
        query = select(model_alias_history).where(h.model_name == name).order_by(h.id)
        if alias is not None:
            query = query.where(h.alias == alias)
        query = _page(query, limit, offset)
        with self._read() as conn:
            q.model_row(conn, name)
            return [
                AliasEvent(r.model_name, r.alias, r.action, r.old_version, r.new_version, r.user, r.at)
                for r in conn.execute(query)
            ]

    # ---- lineage -----------------------------------------------------------------------------------
    def version_lineage(
        self, name: str, version: int, *, limit: int | None = None, offset: int = 0
    ) -> list[LineageRecord]:
        lin = model_version_lineage.c
        query = (
            select(model_version_lineage)
            .where(lin.model_name == name, lin.version == version)
            .order_by(lin.depth, lin.name, lin.artifact_id)  # artifact_id completes the key: total
        )
        query = _page(query, limit, offset)
        with self._read() as conn:
            q.version_row(conn, name, version)
            rows = conn.execute(query).all()
        return [q.lineage_record(r) for r in rows]

    def versions_from_artifact(
        self,
        *,
        artifact_id: str | None = None,
        digest: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ModelVersion]:
        lin = model_version_lineage.c
        if artifact_id is None and digest is None:
            raise InvalidInputError("versions_from_artifact needs artifact_id=... or digest=...")
        cond = lin.artifact_id == artifact_id if artifact_id is not None else lin.digest == digest
        keys = select(lin.model_name, lin.version).where(cond).distinct().subquery()
        query = (
            select(model_versions)
            .join(keys, (keys.c.model_name == _V.model_name) & (keys.c.version == _V.version))
            .order_by(_V.model_name, _V.version)
        )
        query = _page(query, limit, offset)
        with self._read() as conn:
            return q.load_versions(conn, conn.execute(query).all())

    def versions_from_run(
        self, run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[ModelVersion]:
        query = select(model_versions).where(_V.run_id == run_id).order_by(_V.model_name, _V.version)
        query = _page(query, limit, offset)
        with self._read() as conn:
            return q.load_versions(conn, conn.execute(query).all())
