"""``SqlSecurityStore``: users, tokens and audit events in the SQL metadata database.

It borrows the :class:`SqlMetadataStore`'s transactions (same engine, same error translation).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, insert, select, update

from shipyard.core.errors import AlreadyExistsError, NotFoundError
from shipyard.core.names import canonical_name, validate_user_name
from shipyard.metadata.security import AuditEvent, SecurityStore, TokenRecord, User
from shipyard.metadata.sql.security_schema import api_tokens, audit_events, users
from shipyard.metadata.sql.store import BorrowedTransactions

_U = users.c
_T = api_tokens.c
_E = audit_events.c


def _user(row: Row[Any]) -> User:
    return User(name=row.name, role=row.role, created_at=row.created_at, disabled=bool(row.disabled))


def _token(row: Row[Any]) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        user=row.user,
        name=row.name,
        token_hash=row.token_hash,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


class SqlSecurityStore(BorrowedTransactions, SecurityStore):
    # ---- users -------------------------------------------------------------------------------------
    def create_user(self, name: str, role: str, at: Any) -> User:
        canonical = canonical_name(validate_user_name(name, new=True))
        with self._write() as conn:
            existing = conn.execute(select(_U.name).where(_U.canonical == canonical)).scalar()
            if existing == name:
                raise AlreadyExistsError(f"user {name!r} already exists")
            if existing is not None:
                raise AlreadyExistsError(
                    f"user {name!r} looks like the existing user {existing!r}; use that name or pick "
                    "one that differs by more than case, spacing or punctuation"
                )
            conn.execute(
                insert(users).values(name=name, canonical=canonical, role=role, created_at=at, disabled=False)
            )
        return User(name=name, role=role, created_at=at)

    def get_user(self, name: str) -> User:
        with self._read() as conn:
            row = conn.execute(select(users).where(_U.name == name)).first()
        if row is None:
            raise NotFoundError(f"user {name!r} does not exist")
        return _user(row)

    def list_users(self) -> list[User]:
        with self._read() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(_U.name))]

    # ---- tokens ------------------------------------------------------------------------------------
    def create_token(self, token: TokenRecord) -> TokenRecord:
        with self._write() as conn:
            if conn.execute(select(_U.name).where(_U.name == token.user)).first() is None:
                raise NotFoundError(f"user {token.user!r} does not exist")
            conn.execute(
                insert(api_tokens).values(
                    id=token.id,
                    user=token.user,
                    name=token.name,
                    token_hash=token.token_hash,
                    prefix=token.prefix,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                    revoked_at=token.revoked_at,
                )
            )
        return token

    def find_token(self, token_hash: str) -> tuple[TokenRecord, User] | None:
        query = (
            select(api_tokens, _U.role, _U.created_at.label("user_created_at"), _U.disabled)
            .join(users, _U.name == _T.user)
            .where(_T.token_hash == token_hash)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        user = User(name=row.user, role=row.role, created_at=row.user_created_at, disabled=bool(row.disabled))
        return _token(row), user

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        query = select(api_tokens).order_by(_T.created_at, _T.id)
        if user is not None:
            query = query.where(_T.user == user)
        with self._read() as conn:
            return [_token(r) for r in conn.execute(query)]

    def get_token(self, token_id: str) -> TokenRecord:
        with self._read() as conn:
            row = conn.execute(select(api_tokens).where(_T.id == token_id)).first()
        if row is None:
            raise NotFoundError(f"token {token_id!r} does not exist; `shipyard tokens list` shows them")
        return _token(row)

    def revoke_token(self, token_id: str, at: Any) -> TokenRecord:
        with self._write() as conn:
            conn.execute(
                update(api_tokens).where(_T.id == token_id, _T.revoked_at.is_(None)).values(revoked_at=at)
            )
            row = conn.execute(select(api_tokens).where(_T.id == token_id)).first()
        if row is None:
            raise NotFoundError(f"token {token_id!r} does not exist; `shipyard tokens list` shows them")
        return _token(row)

    # ---- audit -------------------------------------------------------------------------------------
    def record_audit(self, events: list[AuditEvent]) -> None:
        if not events:
            return
        rows = [
            {"at": e.at, "user": e.user, "action": e.action[:250], "target": e.target, "status": e.status}
            for e in events
        ]
        with self._write() as conn:
            conn.execute(insert(audit_events), rows)

    def list_audit(self, limit: int = 100, user: str | None = None) -> list[AuditEvent]:
        query = select(audit_events).order_by(_E.id.desc()).limit(limit)
        if user is not None:
            query = query.where(_E.user == user)
        with self._read() as conn:
            return [
                AuditEvent(at=r.at, user=r.user, action=r.action, target=r.target, status=r.status, id=r.id)
                for r in conn.execute(query)
            ]
