"""The branch registry in SQL (table ``branches``, revision 0021_branches). Rules:
``shipyard.metadata.branches``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from shipyard.core.errors import NotFoundError
from shipyard.metadata.base import check_page
from shipyard.metadata.branches import Branch, BranchStore, check_branch_ref
from shipyard.metadata.sql.branches_schema import branches
from shipyard.metadata.sql.dialect import insert_for, store_now
from shipyard.metadata.sql.store import BorrowedTransactions
from shipyard.metadata.sql.types import from_micros

_B = branches.c


def _branch(row: Any) -> Branch:
    return Branch(row.project, row.name, row.created_by, row.created_at, row.deleted_at, row.deleted_by)


def _now(conn: Connection) -> Any:
    return from_micros(int(conn.execute(select(store_now(conn))).scalar_one()))


class SqlBranchStore(BorrowedTransactions, BranchStore):
    def _one(self, conn: Connection, project: str, name: str) -> Branch | None:
        row = conn.execute(select(branches).where(_B.project == project, _B.name == name)).first()
        return None if row is None else _branch(row)

    def record(self, project: str, name: str, *, by: str) -> Branch:
        check_branch_ref(project, name)
        with self._write() as conn:
            found = self._one(conn, project, name)
            if found is not None and not found.deleted:
                return found
            if found is None:
                stmt = insert_for(conn, branches).values(
                    project=project, name=name, created_by=by, created_at=_now(conn)
                )
                conn.execute(stmt.on_conflict_do_nothing(index_elements=["project", "name"]))
            else:  # written on again: live again
                conn.execute(
                    update(branches)
                    .where(_B.project == project, _B.name == name)
                    .values(deleted_at=None, deleted_by=None)
                )
            made = self._one(conn, project, name)
        assert made is not None
        return made

    def get_branch(self, project: str, name: str) -> Branch:
        check_branch_ref(project, name)
        with self._read() as conn:
            found = self._one(conn, project, name)
        if found is None:
            raise NotFoundError(
                f"project {project!r} has no branch {name!r}; `shipyard branches list` lists them"
            )
        return found

    def list_branches(
        self,
        project: str | None = None,
        *,
        include_deleted: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Branch]:
        check_page(limit, offset)
        query = select(branches).order_by(_B.project, _B.name).offset(offset)
        if project is not None:
            query = query.where(_B.project == project)
        if not include_deleted:
            query = query.where(_B.deleted_at.is_(None))
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_branch(row) for row in conn.execute(query)]

    def mark_deleted(self, project: str, name: str, *, by: str) -> Branch:
        self.get_branch(project, name)
        with self._write() as conn:
            conn.execute(
                update(branches)
                .where(_B.project == project, _B.name == name, _B.deleted_at.is_(None))
                .values(deleted_at=_now(conn), deleted_by=by)
            )
            found = self._one(conn, project, name)
        assert found is not None
        return found
