"""Data policies in SQL (interface: ``shipyard.metadata.policies``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from shipyard.core.clock import utcnow
from shipyard.core.data_policies import DataPolicy, check_policy
from shipyard.core.errors import AlreadyExistsError, NotFoundError
from shipyard.metadata.base import check_page
from shipyard.metadata.policies import PolicyStore
from shipyard.metadata.sql.policies_schema import data_policies
from shipyard.metadata.sql.store import BorrowedTransactions

_P = data_policies.c


def _policy(row: Any) -> DataPolicy:
    columns = row.columns if isinstance(row.columns, Mapping) else {}
    subjects = row.subjects if isinstance(row.subjects, list) else []
    return DataPolicy(
        name=row.name,
        target_kind=row.target_kind,
        target=row.target,
        subjects=tuple(str(s) for s in subjects),
        columns={str(k): str(v) for k, v in columns.items()},
        row_filter=row.row_filter,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _missing(name: str) -> NotFoundError:
    return NotFoundError(f"data policy {name!r} does not exist: see `shipyard policy list`")


class SqlPolicyStore(BorrowedTransactions, PolicyStore):
    def create_policy(self, policy: DataPolicy) -> DataPolicy:
        check_policy(policy)
        if policy.created_at is None:
            policy = replace(policy, created_at=utcnow())
        values = {
            "name": policy.name,
            "target_kind": policy.target_kind,
            "target": policy.target,
            "subjects": list(policy.subjects),
            "columns": dict(policy.columns),
            "row_filter": policy.row_filter,
            "description": policy.description,
            "created_by": policy.created_by,
            "created_at": policy.created_at,
        }
        try:
            with self._write() as conn:
                if conn.execute(select(_P.name).where(_P.name == policy.name)).first() is not None:
                    raise AlreadyExistsError(
                        f"data policy {policy.name!r} already exists; delete it first to replace it"
                    )
                conn.execute(insert(data_policies).values(**values))
        except SqlIntegrityError as exc:  # two creates of one name at once
            raise AlreadyExistsError(f"data policy {policy.name!r} already exists") from exc
        return policy

    def get_policy(self, name: str) -> DataPolicy:
        with self._read() as conn:
            row = conn.execute(select(data_policies).where(_P.name == name)).first()
        if row is None:
            raise _missing(name)
        return _policy(row)

    def list_policies(
        self,
        *,
        target_kind: str | None = None,
        target: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DataPolicy]:
        check_page(limit, offset)
        query = select(data_policies).order_by(_P.name).offset(offset)
        if target_kind is not None:
            query = query.where(_P.target_kind == target_kind)
        if target is not None:
            query = query.where(_P.target == target)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_policy(row) for row in conn.execute(query)]

    def delete_policy(self, name: str) -> None:
        with self._write() as conn:
            if conn.execute(delete(data_policies).where(_P.name == name)).rowcount == 0:
                raise _missing(name)
