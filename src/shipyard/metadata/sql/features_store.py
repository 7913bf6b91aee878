"""The feature-view registry in SQL (interface: ``shipyard.metadata.features``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from shipyard.core.errors import ConflictError, NotFoundError
from shipyard.metadata.base import check_page
from shipyard.metadata.features import FeatureRecords, ViewRecord, spec_hash
from shipyard.metadata.sql.features_schema import feature_views
from shipyard.metadata.sql.store import BorrowedTransactions

_V = feature_views.c


def _record(row: Any) -> ViewRecord:
    return ViewRecord(
        name=row.name,
        version=int(row.version),
        spec=dict(row.spec) if isinstance(row.spec, Mapping) else {},  # a read never fails on a row
        spec_hash=row.spec_hash,
        project=row.project,
        created_at=row.created_at,
        created_by=row.created_by,
    )


class SqlFeatureRecords(BorrowedTransactions, FeatureRecords):
    def apply_view(
        self, name: str, spec: Mapping[str, Any], *, project: str | None, by: str, at: datetime
    ) -> tuple[ViewRecord, bool]:
        digest = spec_hash(spec)
        try:
            with self._write() as conn:
                latest = conn.execute(
                    select(feature_views).where(_V.name == name).order_by(_V.version.desc()).limit(1)
                ).first()
                if latest is not None and latest.spec_hash == digest:
                    return _record(latest), False
                version = 1 if latest is None else int(latest.version) + 1
                values = {
                    "name": name,
                    "version": version,
                    "spec": dict(spec),
                    "spec_hash": digest,
                    "project": project,
                    "created_at": at,
                    "created_by": by,
                }
                conn.execute(insert(feature_views).values(**values))
        except SqlIntegrityError as exc:  # two applies of one view at once
            raise ConflictError(f"feature view {name!r} was applied concurrently: apply again") from exc
        return ViewRecord(name, version, dict(spec), digest, project, at, by), True

    def get_view(self, name: str, version: int | None = None) -> ViewRecord:
        query = select(feature_views).where(_V.name == name)
        query = (
            query.order_by(_V.version.desc()).limit(1)
            if version is None
            else query.where(_V.version == version)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            what = (
                f"feature view {name!r}" if version is None else f"version {version} of feature view {name!r}"
            )
            raise NotFoundError(f"{what} does not exist: see `shipyard features list`")
        return _record(row)

    def list_views(
        self, *, limit: int | None = None, offset: int = 0, after: str | None = None
    ) -> list[ViewRecord]:
        check_page(limit, offset)
        newest = select(_V.name, func.max(_V.version).label("version")).group_by(_V.name)
        if after is not None:  # keyset: names after it, on the primary key's index
            newest = newest.where(_V.name > after)
        if limit is not None:  # the page's names only: the join reads no more than it answers
            newest = newest.order_by(_V.name).offset(offset).limit(limit)
        elif offset:
            newest = newest.order_by(_V.name).offset(offset)
        sub = newest.subquery("newest")
        query = (
            select(feature_views)
            .join(sub, (_V.name == sub.c.name) & (_V.version == sub.c.version))
            .order_by(_V.name)
        )
        with self._read() as conn:
            return [_record(row) for row in conn.execute(query)]

    def view_versions(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[ViewRecord]:
        check_page(limit, offset)
        query = select(feature_views).where(_V.name == name).order_by(_V.version.desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            rows = [_record(row) for row in conn.execute(query)]
        if not rows and offset == 0:
            self.get_view(name)  # NotFoundError naming it
        return rows
