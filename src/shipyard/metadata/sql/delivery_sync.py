"""Sync statuses in SQL (table ``deploy_sync``, revision 0019_sync): what a sync loop last said of
each environment and its wake counter. Rules: ``shipyard.metadata.delivery``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from shipyard.metadata.base import check_page
from shipyard.metadata.delivery import SyncReport, SyncStatus, check_sync_report
from shipyard.metadata.sql.delivery_schema import deploy_sync
from shipyard.metadata.sql.dialect import insert_for, store_now
from shipyard.metadata.sql.store import BorrowedTransactions
from shipyard.metadata.sql.types import from_micros

_S = deploy_sync.c


def _status(row: Any) -> SyncStatus:
    drift = row.drift if isinstance(row.drift, list) else []
    return SyncStatus(
        project=row.project,
        environment=row.environment,
        status=row.status,
        reason=row.reason,
        repo=row.repo,
        branch=row.branch,
        revision=row.revision,
        synced_revision=row.synced_revision,
        release=row.release,
        running_commit=row.running_commit,
        drift=[{str(k): str(v) for k, v in d.items()} for d in drift if isinstance(d, Mapping)],
        drifted=int(row.drifted),
        checked_at=row.checked_at,
        checked_by=row.checked_by,
        wake=int(row.wake),
        woken_at=row.woken_at,
    )


def _now(conn: Connection) -> int:
    return int(conn.execute(select(store_now(conn))).scalar_one())


class SqlSyncRows(BorrowedTransactions):
    def _one(self, conn: Connection, project: str, environment: str) -> SyncStatus | None:
        row = conn.execute(
            select(deploy_sync).where(_S.project == project, _S.environment == environment)
        ).first()
        return None if row is None else _status(row)

    def record_sync(self, project: str, environment: str, report: SyncReport, *, by: str) -> SyncStatus:
        check_sync_report(report)
        with self._write() as conn:
            said = {
                "status": report.status,
                "reason": report.reason,
                "repo": report.repo,
                "branch": report.branch,
                "revision": report.revision,
                "synced_revision": report.synced_revision,
                "release": report.release,
                "running_commit": report.running_commit,
                "drift": [dict(d) for d in report.drift],
                "drifted": max(report.drifted, len(report.drift)),
                "checked_at": from_micros(_now(conn)),
                "checked_by": by,
            }
            stmt = insert_for(conn, deploy_sync).values(
                project=project, environment=environment, wake=0, woken_at=None, **said
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["project", "environment"],
                set_={key: getattr(stmt.excluded, key) for key in said},
            )
            conn.execute(stmt)
            found = self._one(conn, project, environment)
        assert found is not None
        return found

    def get_sync(self, project: str, environment: str) -> SyncStatus | None:
        with self._read() as conn:
            return self._one(conn, project, environment)

    def list_syncs(
        self,
        project: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: tuple[str, str] | None = None,
    ) -> list[SyncStatus]:
        check_page(limit, offset)
        query = select(deploy_sync).order_by(_S.project, _S.environment).offset(offset)
        if project is not None:
            query = query.where(_S.project == project)
        if after is not None:  # keyset: (project, environment) > after, on the primary key's index
            query = query.where(
                or_(_S.project > after[0], and_(_S.project == after[0], _S.environment > after[1]))
            )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_status(row) for row in conn.execute(query)]

    def request_sync(self, project: str, environment: str, *, by: str) -> int:
        with self._write() as conn:
            now = from_micros(_now(conn))
            stmt = insert_for(conn, deploy_sync).values(
                project=project,
                environment=environment,
                status="unknown",
                reason=f"a poll was asked by {by}; no sync loop has reported yet",
                drifted=0,
                wake=1,
                woken_at=now,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["project", "environment"],
                set_={"wake": _S.wake + 1, "woken_at": stmt.excluded.woken_at},
            )
            conn.execute(stmt)
            wake = conn.execute(
                select(_S.wake).where(_S.project == project, _S.environment == environment)
            ).scalar_one()
        return int(wake)
